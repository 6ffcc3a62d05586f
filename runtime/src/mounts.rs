//! Mount options of the OCI spec turned into mount(2) flags.

pub use crate::sys::Flags;

/// A spec mount's options, split the way mount(2) wants them.
#[derive(Default, Debug)]
pub struct Options {
    pub flags: Flags,
    /// Propagation changes, applied by separate mount(2) calls after the mount.
    pub propagation: Vec<Flags>,
    pub bind: bool,
    pub recursive: bool,
    /// Filesystem-specific options (e.g. `mode=755`, `size=64m`).
    pub data: Vec<String>,
}

/// Parses the spec's `options` list. Unknown words are passed to the filesystem, as runc does.
pub fn parse_options(opts: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    for opt in opts {
        let (set, clear): (Flags, Flags) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "lazytime" => (libc::MS_LAZYTIME, 0),
            "nolazytime" => (0, libc::MS_LAZYTIME),
            "silent" => (libc::MS_SILENT, 0),
            "loud" => (0, libc::MS_SILENT),
            "iversion" => (libc::MS_I_VERSION, 0),
            "noiversion" => (0, libc::MS_I_VERSION),
            "bind" => {
                o.bind = true;
                (0, 0)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (0, 0)
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.propagation.push(propagation(opt).expect("listed above"));
                (0, 0)
            }
            "idmap" | "ridmap" => {
                return Err(format!(
                    "mount option {opt} (id-mapped mounts) is not supported"
                ))
            }
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec"
            | "rnoatime" | "ratime" | "rrelatime" | "rnorelatime" | "rstrictatime"
            | "rnostrictatime" | "rnodiratime" | "rdiratime" | "rnosymfollow" | "rsymfollow" => {
                return Err(format!("recursive mount option {opt} is not supported"))
            }
            "tmpcopyup" => return Err("mount option tmpcopyup is not supported".into()),
            _ => {
                o.data.push(opt.clone());
                (0, 0)
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    Ok(o)
}

/// The mount(2) flags of a propagation name (`rslave`, `private`, ...).
pub fn propagation(name: &str) -> Option<Flags> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&s(&[
            "nosuid", "ro", "mode=755", "rbind", "rslave", "size=1m",
        ]))
        .unwrap();
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_RDONLY);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.data, vec!["mode=755", "size=1m"]);
        let o = parse_options(&s(&["ro", "rw"])).unwrap();
        assert_eq!(o.flags, 0);
        assert!(parse_options(&s(&["idmap"])).is_err());
    }
}
