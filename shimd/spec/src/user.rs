//! Resolving `user[:group]` against a container's /etc/passwd and /etc/group, read inside
//! the rootfs without following links out of it.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::{Error, Result};

/// A resolved user: uid, primary gid, supplementary gids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// `uid:gid` given as numbers needs no lookup: Some((uid, gid)). Anything else needs the
/// rootfs: None. Malformed strings are errors.
pub fn numeric(user: &str) -> Result<Option<(u32, u32)>> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if u.is_empty() || g == Some("") {
        return Err(Error::User(
            user.into(),
            "use user, uid, user:group or uid:gid".into(),
        ));
    }
    match (u.parse::<u32>(), g.map(str::parse::<u32>)) {
        (Ok(uid), Some(Ok(gid))) => Ok(Some((uid, gid))),
        _ => Ok(None),
    }
}

/// Resolves `user[:group]` with the passwd and group files of `rootfs` (docker's rules:
/// a uid without an entry gets gid 0; a name without an entry is an error).
pub fn resolve(rootfs: &Path, user: &str) -> Result<User> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let err = |msg: String| Error::User(user.to_string(), msg);
    let passwd = read_in_root(rootfs, "etc/passwd").unwrap_or_default();
    let group = read_in_root(rootfs, "etc/group").unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u)));
    let (uid, name, mut gid) = match (&entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| err("bad uid in /etc/passwd".into()))?,
            f[0].to_string(),
            f[3].parse::<u32>()
                .map_err(|_| err("bad gid in /etc/passwd".into()))?,
        ),
        (None, Ok(uid)) => (uid, String::new(), 0),
        (None, Err(_)) => return Err(err("no such user in the container's /etc/passwd".into())),
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| err(format!("no group {g:?} in the container's /etc/group")))?,
        };
    }
    let mut additional_gids: Vec<u32> = if name.is_empty() || g.is_some() {
        Vec::new()
    } else {
        groups
            .iter()
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|&n| n != gid)
            .collect()
    };
    additional_gids.dedup();
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

/// Resolves supplementary groups given by name or id (docker's `--group-add`) with the
/// group file of `rootfs`: a name must have an entry; an id is taken as it is when it has
/// none. Duplicates are dropped.
pub fn additional_groups(rootfs: &Path, entries: &[String]) -> Result<Vec<u32>> {
    let group = read_in_root(rootfs, "etc/group").unwrap_or_default();
    let mut out: Vec<u32> = Vec::new();
    for e in entries {
        let gid = group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 3)
            .find(|f| f[0] == e || f[2] == e)
            .and_then(|f| f[2].parse::<u32>().ok())
            .or_else(|| e.parse::<u32>().ok())
            .ok_or_else(|| {
                Error::User(
                    e.clone(),
                    "no such group in the container's /etc/group (--group-add takes a group name of the image or a number)".into(),
                )
            })?;
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

/// Adds the groups of the spec's [`crate::GROUPS_ANNOTATION`] (if any), resolved in
/// `rootfs`, to `process.user.additionalGids`.
pub fn apply_groups_annotation(spec: &mut serde_json::Value, rootfs: &Path) -> Result<()> {
    let Some(list) = spec
        .get("annotations")
        .and_then(|a| a.get(crate::GROUPS_ANNOTATION))
        .and_then(serde_json::Value::as_str)
    else {
        return Ok(());
    };
    let entries: Vec<String> = serde_json::from_str(list).map_err(|e| {
        Error::Spec(format!(
            "annotation {}: not a JSON array of strings: {e}",
            crate::GROUPS_ANNOTATION
        ))
    })?;
    let extra = additional_groups(rootfs, &entries)?;
    let gids = &mut spec["process"]["user"]["additionalGids"];
    let mut all: Vec<u64> = gids
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    for g in extra.into_iter().map(u64::from) {
        if !all.contains(&g) {
            all.push(g);
        }
    }
    *gids = serde_json::json!(all);
    Ok(())
}

/// Reads `rel` inside `root` with every path component resolved as if `root` were `/`
/// (openat2 RESOLVE_IN_ROOT): a symlink in the image cannot lead to the host's files.
fn read_in_root(root: &Path, rel: &str) -> Option<String> {
    let root_c = CString::new(root.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: open(2) of a valid C string; the descriptor is owned right after.
    let dirfd = unsafe {
        libc::open(
            root_c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dirfd < 0 {
        return None;
    }
    // SAFETY: dirfd was just opened and is owned by nobody else.
    let dir = unsafe { OwnedFd::from_raw_fd(dirfd) };
    let rel_c = CString::new(rel).ok()?;
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 with a valid dirfd, C string and open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            rel_c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel returned a new descriptor that we now own.
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    let mut s = String::new();
    // Refuse giant files: a passwd file is small.
    f.by_ref().take(4 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1001::/home/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nweb:x:1001:\nwheel:x:10:web\naudio:x:29:other,web\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn numeric_pairs_need_no_lookup() {
        assert_eq!(numeric("1:2").unwrap(), Some((1, 2)));
        assert_eq!(numeric("1").unwrap(), None);
        assert_eq!(numeric("web").unwrap(), None);
        assert!(numeric(":1").is_err());
        assert!(numeric("1:").is_err());
    }

    #[test]
    fn resolves_names_groups_and_uids() {
        let r = rootfs();
        let web = resolve(r.path(), "web").unwrap();
        assert_eq!((web.uid, web.gid), (1000, 1001));
        assert_eq!(web.additional_gids, vec![10, 29]);
        assert_eq!(resolve(r.path(), "1000").unwrap().gid, 1001);
        assert_eq!(resolve(r.path(), "web:wheel").unwrap().gid, 10);
        assert_eq!(
            resolve(r.path(), "4242").unwrap(),
            User {
                uid: 4242,
                gid: 0,
                additional_gids: vec![]
            }
        );
        assert!(resolve(r.path(), "nobody").is_err());
        assert!(resolve(r.path(), "web:nogroup").is_err());
    }

    #[test]
    fn additional_groups_by_name_or_id() {
        let r = rootfs();
        let g = |e: &[&str]| {
            additional_groups(
                r.path(),
                &e.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(g(&["wheel", "audio"]).unwrap(), vec![10, 29]);
        assert_eq!(g(&["29", "4242", "audio"]).unwrap(), vec![29, 4242]);
        assert!(g(&["nogroup"]).is_err());
        // No group file at all: ids still work, names do not.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            additional_groups(empty.path(), &["7".to_string()]).unwrap(),
            vec![7]
        );
        assert!(additional_groups(empty.path(), &["video".to_string()]).is_err());
    }

    #[test]
    fn the_groups_annotation_adds_to_the_users_groups() {
        let r = rootfs();
        let mut spec = serde_json::json!({
            "process": {"user": {"uid": 1000, "gid": 1001, "additionalGids": [10]}},
            "annotations": {crate::GROUPS_ANNOTATION: r#"["audio","wheel","77"]"#}
        });
        apply_groups_annotation(&mut spec, r.path()).unwrap();
        assert_eq!(
            spec["process"]["user"]["additionalGids"],
            serde_json::json!([10, 29, 77])
        );
        let mut bad = serde_json::json!({"annotations": {crate::GROUPS_ANNOTATION: "audio"}});
        assert!(apply_groups_annotation(&mut bad, r.path()).is_err());
        let mut plain = serde_json::json!({"process": {}});
        apply_groups_annotation(&mut plain, r.path()).unwrap();
        assert_eq!(plain, serde_json::json!({"process": {}}));
    }

    #[test]
    fn symlinks_stay_inside_the_rootfs() {
        let r = tempfile::tempdir().unwrap();
        std::fs::create_dir(r.path().join("etc")).unwrap();
        // An absolute link resolves inside the rootfs, where there is no such file.
        std::os::unix::fs::symlink("/etc/hostname", r.path().join("etc/passwd")).unwrap();
        assert!(read_in_root(r.path(), "etc/passwd").is_none());
        std::os::unix::fs::symlink("../../../../../../etc/hostname", r.path().join("etc/group"))
            .unwrap();
        assert!(read_in_root(r.path(), "etc/group").is_none());
    }
}
