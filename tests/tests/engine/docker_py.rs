//! docker-py (PyPI `docker`) and docker-compose 1.29 against berthd: runs the Python suite
//! in tests/py (its run.sh makes a virtualenv with the pinned requirements, starts a berthd
//! of its own and runs pytest), so the client coverage is part of `cargo test`.

use std::process::Command;

use berth_tests::bins::bin_dir;
use berth_tests::require;

#[test]
fn docker_py_and_compose_suite() {
    require!(root);
    let python_ok = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        python_ok,
        "python3 with venv and ensurepip is needed (scripts/install-deps.sh installs python3-venv)"
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("py/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("BERTH_BIN_DIR", bin_dir())
        .output()
        .expect("run tests/py/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/py/run.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // pytest's summary line, e.g. "64 passed in 40.1s": something ran and nothing failed.
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or("");
    assert!(
        !summary.is_empty() && !summary.contains("failed"),
        "no pytest summary with passed tests:\n{stdout}"
    );
    eprintln!("docker-py suite: {summary}");
}
