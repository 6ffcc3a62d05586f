//! A busybox root filesystem built from Debian's `busybox-static`, and OCI bundles on it.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Applets linked in every fixture rootfs.
const APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "echo", "cat", "ls", "id", "hostname", "nc", "ping",
    "nslookup", "wget", "ip", "mount", "grep", "ps", "env", "pwd", "touch", "mkdir", "rm", "stat",
    "test", "head", "tail", "wc", "readlink", "ulimit", "kill", "uname", "date", "dd", "chmod",
    "ln", "umask", "cut", "tr", "sort", "awk", "sed", "find", "df", "mknod", "whoami", "timeout",
    "printf", "seq", "top", "cp", "mv", "yes", "dmesg", "hexdump",
];

/// The host's static busybox.
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let p = Path::new(p);
        if p.exists() {
            return p.to_path_buf();
        }
    }
    panic!("busybox not found: install Debian's busybox-static (scripts/install-deps.sh)");
}

/// Fills `dir` with a minimal busybox rootfs: /bin/busybox and its applets, /etc/passwd and
/// /etc/group (root and nobody), and the usual empty mount points.
pub fn make_rootfs(dir: &Path) -> std::io::Result<()> {
    for d in [
        "bin", "proc", "sys", "dev", "tmp", "etc", "root", "run", "var", "home",
    ] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::copy(busybox(), dir.join("bin/busybox"))?;
    for a in APPLETS {
        let l = dir.join("bin").join(a);
        if !l.exists() {
            symlink("busybox", l)?;
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnobody:x:65534:\n")?;
    Ok(())
}

/// A temporary OCI bundle: `rootfs/` (busybox) and `config.json` written by the caller.
pub struct Bundle {
    pub dir: tempfile::TempDir,
}

impl Bundle {
    /// A bundle with a busybox rootfs and the given config.
    pub fn new(config: &serde_json::Value) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .expect("create bundle dir");
        make_rootfs(&dir.path().join("rootfs")).expect("make busybox rootfs");
        let b = Bundle { dir };
        b.write_config(config);
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_config(&self, config: &serde_json::Value) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .expect("write config.json");
    }
}
