//! Compiles berth-init (`init/src/main.rs`) as a static executable for berthd to carry:
//! `--init` binds it into containers whose images may have no C library, or another one,
//! so it must not need the host's dynamic loader. It uses std only, so plain rustc with a
//! static C runtime builds it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let src = dir.join("init/src/main.rs");
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("berth-init");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let output = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "berth_init",
            "--target",
            &target,
        ])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "target-feature=+crt-static"])
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", rustc.to_string_lossy()));
    assert!(
        output.status.success(),
        "compiling berth-init statically failed (a static C library, e.g. Debian's libc6-dev, is needed):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
