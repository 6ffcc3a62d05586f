fn main() {
    eprintln!("berth-runtime: not built yet");
    std::process::exit(1);
}
