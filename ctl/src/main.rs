fn main() {
    eprintln!("berthctl: not built yet");
    std::process::exit(1);
}
