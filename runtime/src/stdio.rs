//! The process's stdio handed to the container's user, as runc hands it: each of fds 0..2
//! that is not /dev/null gets the process's uid as owner (its group is kept), so a process
//! that is not root can reopen /proc/self/fd/0..2 (pipes are 0600) or its terminal
//! (/dev/console is the same pty as its stdio). Owners the kernel will not change (an id not
//! mapped in the user namespace, a read-only /dev) are left as they are.

use crate::error::Result;

/// What fstat says of one stdio descriptor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stdio {
    pub rdev: u64,
    pub uid: u32,
    pub gid: u32,
}

/// The stdio descriptors to give to `uid` (fd, group to keep): every open one that is not
/// the device `null_rdev` (/dev/null) and not `uid`'s already (so a root container costs
/// no chown). A closed descriptor is `None` and left alone.
pub fn to_chown(stdio: [Option<Stdio>; 3], null_rdev: Option<u64>, uid: u32) -> Vec<(i32, u32)> {
    (0..3)
        .zip(stdio)
        .filter_map(|(fd, s)| s.map(|s| (fd, s)))
        .filter(|(_, s)| Some(s.rdev) != null_rdev && s.uid != uid)
        .map(|(fd, s)| (fd, s.gid))
        .collect()
}

fn fstat(fd: i32) -> Option<Stdio> {
    // SAFETY: stat is plain old data; all zeroes is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st`, alive for the call; a closed fd is an error, not UB.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(Stdio {
        rdev: st.st_rdev,
        uid: st.st_uid,
        gid: st.st_gid,
    })
}

/// Gives fds 0..2 (not /dev/null) to `uid`, in the container's root before the user switch.
pub fn chown_to(uid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let null = std::fs::metadata("/dev/null").ok().map(|m| m.rdev());
    let stdio = [fstat(0), fstat(1), fstat(2)];
    for (fd, gid) in to_chown(stdio, null, uid) {
        // SAFETY: fchown of one of our stdio descriptors, open as fstat just showed.
        if unsafe { libc::fchown(fd, uid, gid) } != 0 {
            let e = std::io::Error::last_os_error();
            // EINVAL: an id not mapped in our user namespace; EPERM: the current owner is
            // not; EROFS: a read-only /dev. The stdio is then better left as it is.
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::EPERM | libc::EROFS)
            ) {
                return Err(format!("giving stdio fd {fd} to uid {uid}: {e}").into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NULL: u64 = (1 << 8) | 3;

    #[test]
    fn every_open_stdio_but_dev_null_keeping_its_group() {
        let pipe = |gid| {
            Some(Stdio {
                rdev: 0,
                uid: 0,
                gid,
            })
        };
        let null = Some(Stdio {
            rdev: NULL,
            uid: 0,
            gid: 0,
        });
        assert_eq!(
            to_chown([null, pipe(5), pipe(0)], Some(NULL), 1000),
            [(1, 5), (2, 0)]
        );
        // a closed descriptor is skipped
        assert_eq!(to_chown([None, pipe(0), None], Some(NULL), 1000), [(1, 0)]);
        // a pty (major 136) is handed over too
        let pty = Some(Stdio {
            rdev: 136 << 8,
            uid: 0,
            gid: 5,
        });
        assert_eq!(
            to_chown([pty, pty, pty], Some(NULL), 7),
            [(0, 5), (1, 5), (2, 5)]
        );
        // without a /dev/null in the container, nothing is recognised as it
        assert_eq!(to_chown([null, None, None], None, 7), [(0, 0)]);
    }

    #[test]
    fn what_the_user_owns_already_is_left_alone() {
        let owned = |uid| {
            Some(Stdio {
                rdev: 0,
                uid,
                gid: 0,
            })
        };
        assert!(to_chown([owned(0), owned(0), owned(0)], Some(NULL), 0).is_empty());
        assert_eq!(
            to_chown([owned(1000), owned(0), owned(1234)], Some(NULL), 1000),
            [(1, 0), (2, 0)]
        );
    }
}
