//! Mount options as mount(8) and the OCI spec name them (`ro`, `nosuid`, `rbind`, `rslave`,
//! `size=64m`), split into what mount(2) takes: flags to set, propagation changes (each a
//! mount(2) call of its own), whether it is a bind mount, and filesystem data; and the
//! recursive attributes of the OCI spec (`rro`, `rnosuid`, ...), which only
//! mount_setattr(2) with `AT_RECURSIVE` can apply (see [`split_with_attrs`]).
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
    /// A recursive attribute (`rro`, `rnosuid`, `rnoatime`, ...) for mount_setattr(2).
    Recursive(Recursive),
    /// Anything else: passed to the filesystem (`mode=755`, `size=1m`).
    Data,
}

/// mount_setattr(2)'s `MOUNT_ATTR_*` bits (linux/mount.h).
pub mod attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    /// The atime bits: a value of this field, not a set of flags.
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// What a recursive option word does to the mount and everything under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recursive {
    /// Sets a `MOUNT_ATTR_*` flag (`rro`, `rnosuid`).
    Set(u64),
    /// Clears one (`rrw`, `rsuid`).
    Clear(u64),
    /// Chooses the atime mode (`rnoatime`, `rrelatime`, `rstrictatime`).
    Atime(u64),
    /// Leaves an atime mode (`ratime` leaves noatime, `rnostrictatime` strictatime,
    /// `rnorelatime` relatime).
    NotAtime(u64),
}

/// The recursive attributes of a mount, as mount_setattr(2) takes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttrs {
    pub set: u64,
    pub clear: u64,
    /// The atime mode chosen, if any.
    pub atime: Option<u64>,
}

impl RecursiveAttrs {
    fn apply(&mut self, r: Recursive) {
        match r {
            // Kept apart, as runc keeps them: the kernel clears attr_clr, then sets
            // attr_set, so a flag both set and cleared ends up set whatever the order.
            Recursive::Set(f) => self.set |= f,
            Recursive::Clear(f) => self.clear |= f,
            Recursive::Atime(a) => self.atime = Some(a),
            // The kernel takes no "clear" of one atime mode (a partial atime mask in
            // attr_clr is EINVAL): leaving noatime or strictatime means the default,
            // relatime; leaving relatime undoes an earlier choice of it.
            Recursive::NotAtime(attr::RELATIME) => {
                if self.atime == Some(attr::RELATIME) {
                    self.atime = None;
                }
            }
            Recursive::NotAtime(_) => self.atime = Some(attr::RELATIME),
        }
    }

    /// `attr_set` of mount_setattr(2).
    pub fn attr_set(&self) -> u64 {
        self.set | self.atime.unwrap_or(0)
    }

    /// `attr_clr` of mount_setattr(2): choosing an atime mode clears the whole atime field.
    pub fn attr_clr(&self) -> u64 {
        self.clear
            | if self.atime.is_some() {
                attr::ATIME_MASK
            } else {
                0
            }
    }
}

/// The meaning of a recursive option word, if it is one.
pub fn recursive(opt: &str) -> Option<Recursive> {
    use Recursive::*;
    Some(match opt {
        "rro" => Set(attr::RDONLY),
        "rrw" => Clear(attr::RDONLY),
        "rnosuid" => Set(attr::NOSUID),
        "rsuid" => Clear(attr::NOSUID),
        "rnodev" => Set(attr::NODEV),
        "rdev" => Clear(attr::NODEV),
        "rnoexec" => Set(attr::NOEXEC),
        "rexec" => Clear(attr::NOEXEC),
        "rnodiratime" => Set(attr::NODIRATIME),
        "rdiratime" => Clear(attr::NODIRATIME),
        "rnosymfollow" => Set(attr::NOSYMFOLLOW),
        "rsymfollow" => Clear(attr::NOSYMFOLLOW),
        "rnoatime" => Atime(attr::NOATIME),
        "rrelatime" => Atime(attr::RELATIME),
        "rstrictatime" => Atime(attr::STRICTATIME),
        "ratime" => NotAtime(attr::NOATIME),
        "rnostrictatime" => NotAtime(attr::STRICTATIME),
        "rnorelatime" => NotAtime(attr::RELATIME),
        _ => return None,
    })
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
        p => match (propagation(p), recursive(p)) {
            (Some(f), _) => Word::Propagation(f),
            (None, Some(r)) => Word::Recursive(r),
            (None, None) => Word::Data,
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
    /// Recursive attributes, when any word asked for one (only from [`split_with_attrs`]).
    pub attrs: Option<RecursiveAttrs>,
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

/// Splits option words. Recursive words stay filesystem data here (mount(2) has no such
/// flags, so a filesystem refuses them rather than a caller silently dropping them); a
/// caller that applies them with mount_setattr(2) uses [`split_with_attrs`].
pub fn split<'a>(opts: impl IntoIterator<Item = &'a str>) -> Split {
    split_words(opts, false)
}

/// Splits option words, the recursive ones into [`Split::attrs`].
pub fn split_with_attrs<'a>(opts: impl IntoIterator<Item = &'a str>) -> Split {
    split_words(opts, true)
}

fn split_words<'a>(opts: impl IntoIterator<Item = &'a str>, with_attrs: bool) -> Split {
    let mut s = Split::default();
    for opt in opts {
        match word(opt) {
            Word::Flag { set, clear } => s.flags = (s.flags | set) & !clear,
            Word::Bind { recursive } => {
                s.bind = true;
                s.recursive |= recursive;
            }
            Word::Propagation(f) => s.propagation.push(f),
            Word::Recursive(r) if with_attrs => {
                s.attrs.get_or_insert_with(Default::default).apply(r)
            }
            Word::Recursive(_) | Word::Data => s.data.push(opt.to_string()),
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

    #[test]
    fn recursive_words_are_attributes_only_for_callers_that_apply_them() {
        // without mount_setattr they are left to the filesystem, which refuses them
        assert_eq!(split(["rro"]).data, vec!["rro"]);
        assert_eq!(split(["rro"]).attrs, None);
        let s = split_with_attrs(["rbind", "rro", "rnosuid", "size=1m", "rnodev"]);
        assert!(s.bind && s.recursive);
        assert_eq!(s.data, vec!["size=1m"]);
        let a = s.attrs.unwrap();
        assert_eq!(a.attr_set(), attr::RDONLY | attr::NOSUID | attr::NODEV);
        assert_eq!(a.attr_clr(), 0);
        // nothing recursive asked: no mount_setattr at all
        assert_eq!(split_with_attrs(["ro", "nosuid"]).attrs, None);
    }

    #[test]
    fn every_recursive_word_has_its_attribute() {
        for (w, set, clr) in [
            ("rro", attr::RDONLY, 0),
            ("rrw", 0, attr::RDONLY),
            ("rnosuid", attr::NOSUID, 0),
            ("rsuid", 0, attr::NOSUID),
            ("rnodev", attr::NODEV, 0),
            ("rdev", 0, attr::NODEV),
            ("rnoexec", attr::NOEXEC, 0),
            ("rexec", 0, attr::NOEXEC),
            ("rnodiratime", attr::NODIRATIME, 0),
            ("rdiratime", 0, attr::NODIRATIME),
            ("rnosymfollow", attr::NOSYMFOLLOW, 0),
            ("rsymfollow", 0, attr::NOSYMFOLLOW),
            ("rnoatime", attr::NOATIME, attr::ATIME_MASK),
            ("rrelatime", attr::RELATIME, attr::ATIME_MASK),
            ("rstrictatime", attr::STRICTATIME, attr::ATIME_MASK),
            ("ratime", attr::RELATIME, attr::ATIME_MASK),
            ("rnostrictatime", attr::RELATIME, attr::ATIME_MASK),
            ("rnorelatime", 0, 0),
        ] {
            assert!(matches!(word(w), Word::Recursive(_)), "{w}");
            let a = split_with_attrs([w]).attrs.unwrap();
            assert_eq!((a.attr_set(), a.attr_clr()), (set, clr), "{w}");
        }
    }

    #[test]
    fn set_and_clear_accumulate_and_the_last_atime_mode_wins() {
        let a = |v: &[&str]| split_with_attrs(v.iter().copied()).attrs.unwrap();
        // both go to the kernel, which sets what is in both (runc's outcome too)
        for words in [["rro", "rrw"], ["rrw", "rro"]] {
            assert_eq!(a(&words).attr_set(), attr::RDONLY);
            assert_eq!(a(&words).attr_clr(), attr::RDONLY);
        }
        // one atime mode at a time: the last one
        assert_eq!(
            a(&["rnoatime", "rstrictatime"]).attr_set(),
            attr::STRICTATIME
        );
        assert_eq!(a(&["rnoatime", "ratime"]).attr_set(), attr::RELATIME);
        assert_eq!(a(&["rrelatime", "rnorelatime"]).attr_clr(), 0);
        assert_eq!(a(&["rnoatime", "rnorelatime"]).attr_set(), attr::NOATIME);
    }
}
