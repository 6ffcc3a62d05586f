//! A process's identity (uid, primary gid, supplementary gids) derived from `user[:group]`
//! and extra groups against a container's /etc/passwd and /etc/group, read inside the
//! rootfs without following links out of it. [`identity`] is the one place every process
//! of a container (its init and each exec) gets its identity from.
//!
//! The rules are dockerd's (20.10, measured side by side):
//! - the user is a name or a uid; empty means uid 0. A passwd entry (by name, or by uid for
//!   a number) gives the uid, the primary gid and the name. A uid without an entry runs
//!   with gid 0; a name without one is an error.
//! - a group after `:` (a name, which must have an entry, or a number) replaces the
//!   primary gid; an empty one counts as none.
//! - the supplementary gids are the primary gid, then (only when no group was given) the
//!   gids of the groups whose member list names the user, then the extra groups (names
//!   that must have an entry, or numbers), each once, in that order.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use crate::{Error, Result};

/// A resolved identity: uid, primary gid, supplementary gids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

impl User {
    /// The OCI `process.user` object.
    pub fn oci(&self) -> serde_json::Value {
        serde_json::json!({
            "uid": self.uid,
            "gid": self.gid,
            "additionalGids": self.additional_gids,
        })
    }
}

/// The files an identity is looked up in.
const PASSWD: &str = "etc/passwd";
const GROUP: &str = "etc/group";

/// The identity of a process running as `user` (`user`, `uid`, `user:group`, `uid:gid`;
/// empty is root) with the supplementary groups `extra_groups` (docker's `--group-add`), in
/// the container whose root filesystem is `rootfs`.
pub fn identity(rootfs: &Path, user: &str, extra_groups: &[String]) -> Result<User> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let passwd = read_in_root(rootfs, PASSWD)?.unwrap_or_default();
    let group = read_in_root(rootfs, GROUP)?.unwrap_or_default();
    let groups = Groups(&group);
    let (uid, mut gid, name) = match find_passwd(&passwd, u)? {
        Some(e) => (e.uid, e.gid, Some(e.name)),
        None => match u.parse::<u32>() {
            Ok(uid) => (uid, 0, None),
            Err(_) => {
                return Err(Error::Identity(format!(
                    "unable to find user {u}: no matching entries in the container's /etc/passwd"
                )))
            }
        },
    };
    if let Some(g) = g {
        gid = groups.gid_of(g)?;
    }
    let mut gids = vec![gid];
    let mut add = |id: u32| {
        if !gids.contains(&id) {
            gids.push(id);
        }
    };
    if let (Some(name), None) = (name, g) {
        for id in groups.memberships(name)? {
            add(id);
        }
    }
    for e in extra_groups {
        add(groups.gid_of(e)?);
    }
    Ok(User {
        uid,
        gid,
        additional_gids: gids,
    })
}

/// A passwd entry's fields that matter here.
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

/// The `(line number, fields)` of the non-empty lines of a passwd or group file.
fn lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| (n, l.split(':').collect()))
}

fn number(field: Option<&&str>, what: &str, file: &str, line: usize) -> Result<u32> {
    let f = field.copied().unwrap_or("");
    f.parse().map_err(|_| {
        Error::Identity(format!(
            "line {line} of the container's /{file} is malformed: the {what} {f:?} is not a number"
        ))
    })
}

/// The first passwd entry named `user`, or (when `user` is a number) with that uid.
fn find_passwd<'a>(passwd: &'a str, user: &str) -> Result<Option<PasswdEntry<'a>>> {
    let wanted_uid = user.parse::<u32>().ok();
    for (n, f) in lines(passwd) {
        let by_name = f[0] == user;
        let by_uid = wanted_uid.is_some() && f.get(2).and_then(|s| s.parse().ok()) == wanted_uid;
        if by_name || by_uid {
            return Ok(Some(PasswdEntry {
                name: f[0],
                uid: number(f.get(2), "uid", PASSWD, n)?,
                gid: number(f.get(3), "gid", PASSWD, n)?,
            }));
        }
    }
    Ok(None)
}

/// The home directory of the first passwd entry whose uid is `uid`, as runc finds `HOME`
/// for a process: entries without a numeric uid are passed over, a missing home field is an
/// empty home.
pub fn home_of(passwd: &str, uid: u32) -> Option<&str> {
    lines(passwd).find_map(|(_, f)| {
        let entry_uid: u32 = f.get(2)?.trim().parse().ok()?;
        (entry_uid == uid).then(|| f.get(5).copied().unwrap_or(""))
    })
}

/// A group file's text.
struct Groups<'a>(&'a str);

impl Groups<'_> {
    /// The gid of a group given by name or number: the first entry of that name or gid;
    /// a number without one is taken as it is.
    fn gid_of(&self, group: &str) -> Result<u32> {
        let wanted = group.parse::<u32>().ok();
        for (n, f) in lines(self.0) {
            let by_gid = wanted.is_some() && f.get(2).and_then(|s| s.parse().ok()) == wanted;
            if f[0] == group || by_gid {
                return number(f.get(2), "gid", GROUP, n);
            }
        }
        wanted.ok_or_else(|| {
            Error::Identity(format!(
                "unable to find group {group}: no matching entries in the container's /etc/group"
            ))
        })
    }

    /// The gids of the groups whose member list names `user`, in file order.
    fn memberships(&self, user: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for (n, f) in lines(self.0) {
            let member = f
                .get(3)
                .is_some_and(|m| m.split(',').any(|m| m.trim() == user));
            if member {
                out.push(number(f.get(2), "gid", GROUP, n)?);
            }
        }
        Ok(out)
    }
}

/// The largest passwd or group file read; a bigger one is refused.
const MAX_FILE: u64 = 4 << 20;

/// Reads `rel` inside `root` with every path component resolved as if `root` were `/`
/// (berth-fs): a symlink in the image cannot lead to the host's files. Only a regular file
/// is opened for reading (an image may hold FIFOs and device nodes, whose opening alone can
/// block or act). A missing file is `None`.
fn read_in_root(root: &Path, rel: &str) -> Result<Option<String>> {
    let fail = |e: std::io::Error| {
        Error::Identity(format!(
            "reading the container's /{rel} (in {}): {e}",
            root.display()
        ))
    };
    let dir = berth_fs::open_root(root).map_err(fail)?;
    let f = match berth_fs::InRoot::new(dir.as_fd()).open_regular(Path::new(rel)) {
        Ok(f) => f,
        Err(e) => {
            return match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(None),
                _ => Err(fail(e)),
            }
        }
    };
    let meta = f.metadata().map_err(fail)?;
    if meta.len() > MAX_FILE {
        return Err(fail(std::io::Error::other(format!(
            "larger than {MAX_FILE} bytes"
        ))));
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE).read_to_end(&mut bytes).map_err(fail)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rootfs whose passwd and group files hold `passwd` and `group`.
    fn rootfs(passwd: &str, group: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join(PASSWD), passwd).unwrap();
        std::fs::write(d.path().join(GROUP), group).unwrap();
        d
    }

    /// Root and app are members of several groups; nobody of none.
    fn image() -> tempfile::TempDir {
        rootfs(
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home:/bin/sh\n\
             nobody:x:65534:65534:nobody:/home:/bin/false\n",
            "root:x:0:\nbin:x:1:root,daemon\nwheel:x:10:root,app\napp:x:1000:\n\
             audio:x:29:app\nnogroup:x:65534:\nstaff:x:50:app,app\n",
        )
    }

    fn id(r: &tempfile::TempDir, user: &str, extra: &[&str]) -> Result<(u32, u32, Vec<u32>)> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        identity(r.path(), user, &extra).map(|u| (u.uid, u.gid, u.additional_gids))
    }

    #[test]
    fn root_by_default_with_its_memberships() {
        let r = image();
        for user in ["", "0", "root", ":", "root:"] {
            assert_eq!(
                id(&r, user, &[]).unwrap(),
                (0, 0, vec![0, 1, 10]),
                "{user:?}"
            );
        }
        // A group given: no memberships.
        assert_eq!(id(&r, "0:0", &[]).unwrap(), (0, 0, vec![0]));
        assert_eq!(id(&r, ":10", &[]).unwrap(), (0, 10, vec![10]));
    }

    #[test]
    fn users_by_name_or_uid() {
        let r = image();
        let app = (1000, 1000, vec![1000, 10, 29, 50]);
        assert_eq!(id(&r, "app", &[]).unwrap(), app);
        assert_eq!(id(&r, "1000", &[]).unwrap(), app);
        assert_eq!(id(&r, "nobody", &[]).unwrap(), (65534, 65534, vec![65534]));
        assert_eq!(id(&r, "65534", &[]).unwrap(), (65534, 65534, vec![65534]));
        assert_eq!(id(&r, "app:wheel", &[]).unwrap(), (1000, 10, vec![10]));
        assert_eq!(id(&r, "1000:1000", &[]).unwrap(), (1000, 1000, vec![1000]));
        assert_eq!(id(&r, "1:2", &[]).unwrap(), (1, 2, vec![2]));
    }

    #[test]
    fn missing_entries() {
        let r = image();
        // A uid without an entry: gid 0. A number as group without an entry: taken.
        assert_eq!(id(&r, "4242", &[]).unwrap(), (4242, 0, vec![0]));
        assert_eq!(id(&r, "4242:4343", &[]).unwrap(), (4242, 4343, vec![4343]));
        let e = id(&r, "nosuch", &[]).unwrap_err().to_string();
        assert!(
            e.contains("unable to find user nosuch") && e.contains("/etc/passwd"),
            "{e}"
        );
        let e = id(&r, "app:nosuch", &[]).unwrap_err().to_string();
        assert!(
            e.contains("unable to find group nosuch") && e.contains("/etc/group"),
            "{e}"
        );
        // No passwd or group file at all (a scratch image): numbers work, names do not.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            identity(empty.path(), "", &[]).unwrap(),
            User {
                uid: 0,
                gid: 0,
                additional_gids: vec![0]
            }
        );
        assert_eq!(
            identity(empty.path(), "7:8", &["9".into()]).unwrap(),
            User {
                uid: 7,
                gid: 8,
                additional_gids: vec![8, 9]
            }
        );
        assert!(identity(empty.path(), "root", &[]).is_err());
        assert!(identity(empty.path(), "", &["video".into()]).is_err());
    }

    #[test]
    fn extra_groups_come_last_once_each() {
        let r = image();
        assert_eq!(
            id(&r, "1000:1000", &["7"]).unwrap(),
            (1000, 1000, vec![1000, 7])
        );
        assert_eq!(
            id(&r, "app", &["audio", "4242", "1000", "4242"]).unwrap(),
            (1000, 1000, vec![1000, 10, 29, 50, 4242])
        );
        assert_eq!(
            id(&r, "65534", &["root"]).unwrap(),
            (65534, 65534, vec![65534, 0])
        );
        let e = id(&r, "", &["video"]).unwrap_err().to_string();
        assert!(e.contains("unable to find group video"), "{e}");
    }

    #[test]
    fn malformed_files() {
        // Lines of other users do not matter; the matched one must be whole.
        let r = rootfs(
            "garbage\n\n  \nodd:x:2000:notanumber::/:/bin/sh\nshort:x:3000\n\
             app:x:1000:1000::/home:/bin/sh\r\n",
            "bad:x:zz:app\nwheel:x:10:app\r\n",
        );
        let e = id(&r, "odd", &[]).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("notanumber"), "{e}");
        let e = id(&r, "short", &[]).unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("gid"), "{e}");
        // A malformed group the user is a member of is an error, not a silent gid 0.
        let e = id(&r, "app", &[]).unwrap_err().to_string();
        assert!(e.contains("line 1 of the container's /etc/group"), "{e}");
        assert_eq!(id(&r, "app:wheel", &[]).unwrap(), (1000, 10, vec![10]));
        let e = id(&r, "garbage:10", &[]).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("uid"), "{e}");
    }

    #[test]
    fn links_out_of_the_rootfs_are_not_followed() {
        // Beside the rootfs: passwd and group files with entries the container lacks.
        let top = tempfile::tempdir().unwrap();
        let outside = top.path().join("outside/etc");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("passwd"), "hostonly:x:0:0::/:/bin/sh\n").unwrap();
        std::fs::write(outside.join("group"), "hostgroup:x:0:hostonly\n").unwrap();
        let r = top.path().join("rootfs");
        std::fs::create_dir_all(r.join("etc")).unwrap();
        // /etc/passwd climbs out; /etc/group names the outside file by its host path.
        std::os::unix::fs::symlink("../../outside/etc/passwd", r.join(PASSWD)).unwrap();
        std::os::unix::fs::symlink(outside.join("group"), r.join(GROUP)).unwrap();
        let e = identity(&r, "hostonly", &[]).unwrap_err().to_string();
        assert!(e.contains("unable to find user hostonly"), "{e}");
        let e = identity(&r, "", &["hostgroup".to_string()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unable to find group hostgroup"), "{e}");
        // A link to itself is an error, not a hang.
        std::fs::remove_file(r.join(PASSWD)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join(PASSWD)).unwrap();
        assert!(identity(&r, "", &[]).is_err());
        // A link that stays inside is followed.
        let inner = image();
        std::fs::rename(
            inner.path().join(PASSWD),
            inner.path().join("etc/passwd.real"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd.real", inner.path().join(PASSWD)).unwrap();
        assert_eq!(
            id(&inner, "app:app", &[]).unwrap(),
            (1000, 1000, vec![1000])
        );
    }

    #[test]
    fn unreadable_files_are_errors() {
        let r = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(r.path().join(PASSWD)).unwrap();
        let e = identity(r.path(), "", &[]).unwrap_err().to_string();
        assert!(e.contains("/etc/passwd"), "{e}");
        let fifo = image();
        std::fs::remove_file(fifo.path().join(GROUP)).unwrap();
        mkfifo(&fifo.path().join(GROUP));
        let e = identity(fifo.path(), "", &[]).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let big = image();
        std::fs::write(big.path().join(GROUP), vec![b'#'; (MAX_FILE + 1) as usize]).unwrap();
        let e = identity(big.path(), "", &[]).unwrap_err().to_string();
        assert!(e.contains("/etc/group") && e.contains("larger"), "{e}");
    }

    fn mkfifo(p: &Path) {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) of a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    #[test]
    fn the_oci_user() {
        let u = User {
            uid: 1,
            gid: 2,
            additional_gids: vec![2, 3],
        };
        assert_eq!(
            u.oci(),
            serde_json::json!({"uid": 1, "gid": 2, "additionalGids": [2, 3]})
        );
    }
}
