//! berth-runtime's binary: the command line goes to the library, its error becomes
//! `berth-runtime: <message>` on stderr (and in the log) with exit status 1.

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match berth_runtime::run(argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            berth_runtime::log_error(&e);
            eprintln!("berth-runtime: {e}");
            std::process::exit(1);
        }
    }
}
