//! berth-runtime's binary: the command line goes to the library, its error becomes
//! `berth-runtime: error: <message>` on stderr (and in the log) with exit status 1: like
//! runc's `level=error` line, it says "error", which scripts look for.

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match berth_runtime::run(argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            berth_runtime::log_error(&e);
            eprintln!("berth-runtime: error: {e}");
            std::process::exit(1);
        }
    }
}
