//! Prints Docker's default profile as berth generates it (OCI JSON) with `--json`, or the
//! size of its compiled filter stack and the time compiling takes.
//! `cargo run --release -p berth-seccomp --example docker_profile [--json] [CAP_...]`

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let caps: Vec<String> = args.into_iter().filter(|a| a != "--json").collect();
    let profile = berth_seccomp::docker_default(&caps);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&profile).expect("serializable")
        );
        return;
    }
    let allowed: usize = profile
        .syscalls()
        .iter()
        .flatten()
        .map(|s| s.names().len())
        .sum();
    let t = std::time::Instant::now();
    let filter = match berth_seccomp::compile(&profile) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("docker_profile: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "{allowed} syscall names in {} rules; {} BPF programs, {} instructions; compiled in {:.2} ms",
        profile.syscalls().as_ref().map_or(0, Vec::len),
        filter.programs(),
        filter.instructions(),
        t.elapsed().as_secs_f64() * 1e3
    );
}
