//! Mount options as mount(8) and the OCI spec name them (`ro`, `nosuid`, `rbind`, `rslave`,
//! `size=64m`), split into what mount(2) takes: flags to set, propagation changes (each a
//! mount(2) call of its own), whether it is a bind mount, and filesystem data.
//!
//! The one table of option words for every layer: the runtime's spec mounts, shimd's
//! snapshot mounts, the engine's volume options and rootfs mounts.

/// mount(2) flags.
pub type Flags = libc::c_ulong;

/// What an option word means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// Sets and clears flags (`ro` sets MS_RDONLY, `rw` clears it).
    Flag { set: Flags, clear: Flags },
    /// A bind mount, recursive for `rbind`.
    Bind { recursive: bool },
    /// A propagation change (`rslave` is MS_SLAVE|MS_REC).
    Propagation(Flags),
    /// Anything else: passed to the filesystem (`mode=755`, `size=1m`).
    Data,
}

/// The meaning of one option word.
pub fn word(opt: &str) -> Word {
    let flag = |set, clear| Word::Flag { set, clear };
    match opt {
        "defaults" => flag(0, 0),
        "ro" => flag(libc::MS_RDONLY, 0),
        "rw" => flag(0, libc::MS_RDONLY),
        "suid" => flag(0, libc::MS_NOSUID),
        "nosuid" => flag(libc::MS_NOSUID, 0),
        "dev" => flag(0, libc::MS_NODEV),
        "nodev" => flag(libc::MS_NODEV, 0),
        "exec" => flag(0, libc::MS_NOEXEC),
        "noexec" => flag(libc::MS_NOEXEC, 0),
        "sync" => flag(libc::MS_SYNCHRONOUS, 0),
        "async" => flag(0, libc::MS_SYNCHRONOUS),
        "dirsync" => flag(libc::MS_DIRSYNC, 0),
        "remount" => flag(libc::MS_REMOUNT, 0),
        "mand" => flag(libc::MS_MANDLOCK, 0),
        "nomand" => flag(0, libc::MS_MANDLOCK),
        "atime" => flag(0, libc::MS_NOATIME),
        "noatime" => flag(libc::MS_NOATIME, 0),
        "diratime" => flag(0, libc::MS_NODIRATIME),
        "nodiratime" => flag(libc::MS_NODIRATIME, 0),
        "relatime" => flag(libc::MS_RELATIME, 0),
        "norelatime" => flag(0, libc::MS_RELATIME),
        "strictatime" => flag(libc::MS_STRICTATIME, 0),
        "nostrictatime" => flag(0, libc::MS_STRICTATIME),
        "lazytime" => flag(libc::MS_LAZYTIME, 0),
        "nolazytime" => flag(0, libc::MS_LAZYTIME),
        "silent" => flag(libc::MS_SILENT, 0),
        "loud" => flag(0, libc::MS_SILENT),
        "iversion" => flag(libc::MS_I_VERSION, 0),
        "noiversion" => flag(0, libc::MS_I_VERSION),
        "bind" => Word::Bind { recursive: false },
        "rbind" => Word::Bind { recursive: true },
        p => match propagation(p) {
            Some(f) => Word::Propagation(f),
            None => Word::Data,
        },
    }
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

/// A list of options, split the way mount(2) wants them. Later words win (`ro,rw` is
/// read-write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// The flags to mount with, without MS_BIND/MS_REC (see [`Split::mount_flags`]).
    pub flags: Flags,
    /// Propagation changes, in order, applied after the mount.
    pub propagation: Vec<Flags>,
    pub bind: bool,
    pub recursive: bool,
    /// Filesystem-specific options, in order.
    pub data: Vec<String>,
}

impl Split {
    /// The flags of the mount(2) call itself: [`Split::flags`] with MS_BIND (and MS_REC
    /// for `rbind`) for bind mounts.
    pub fn mount_flags(&self) -> Flags {
        let mut f = self.flags;
        if self.bind {
            f |= libc::MS_BIND;
            if self.recursive {
                f |= libc::MS_REC;
            }
        }
        f
    }

    /// The filesystem data as mount(2) takes it (`mode=755,size=1m`).
    pub fn data_string(&self) -> String {
        self.data.join(",")
    }
}

/// Splits option words.
pub fn split<'a>(opts: impl IntoIterator<Item = &'a str>) -> Split {
    let mut s = Split::default();
    for opt in opts {
        match word(opt) {
            Word::Flag { set, clear } => s.flags = (s.flags | set) & !clear,
            Word::Bind { recursive } => {
                s.bind = true;
                s.recursive |= recursive;
            }
            Word::Propagation(f) => s.propagation.push(f),
            Word::Data => s.data.push(opt.to_string()),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_into_flags_propagation_bind_and_data() {
        let s = split(["nosuid", "ro", "mode=755", "rbind", "rslave", "size=1m"]);
        assert_eq!(s.flags, libc::MS_NOSUID | libc::MS_RDONLY);
        assert!(s.bind && s.recursive);
        assert_eq!(s.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(s.data, vec!["mode=755", "size=1m"]);
        assert_eq!(s.data_string(), "mode=755,size=1m");
        assert_eq!(
            s.mount_flags(),
            libc::MS_NOSUID | libc::MS_RDONLY | libc::MS_BIND | libc::MS_REC
        );
    }

    #[test]
    fn later_words_win() {
        assert_eq!(split(["ro", "rw"]).flags, 0);
        assert_eq!(split(["rw", "ro"]).flags, libc::MS_RDONLY);
        assert_eq!(split(["noexec", "exec", "nodev"]).flags, libc::MS_NODEV);
        assert_eq!(split(["bind"]).mount_flags(), libc::MS_BIND);
        assert_eq!(split(["defaults"]), Split::default());
    }

    #[test]
    fn unknown_words_are_filesystem_data() {
        assert_eq!(word("uid=1000"), Word::Data);
        assert_eq!(word("lowerdir=/a:/b"), Word::Data);
        assert_eq!(word(""), Word::Data);
        assert_eq!(word("private"), Word::Propagation(libc::MS_PRIVATE));
        assert!(propagation("rprivate").unwrap() & libc::MS_REC != 0);
        assert_eq!(propagation("bogus"), None);
    }
}
