//! `User` ("name", "uid", "name:group", "uid:gid") resolved against the container's
//! /etc/passwd and /etc/group, with the supplementary groups the user belongs to.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// True when resolving `user` needs the container's passwd and group files.
pub fn needs_lookup(user: &str) -> bool {
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    !(u.is_empty() || u.parse::<u32>().is_ok()) || !(g.is_empty() || g.parse::<u32>().is_ok())
}

struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = Passwd<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        Some(Passwd {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let members = f
            .get(3)
            .map(|m| m.split(',').filter(|x| !x.is_empty()).collect())
            .unwrap_or_default();
        Some((*f.first()?, f.get(2)?.parse().ok()?, members))
    })
}

/// Resolves `user` with the container's `passwd` and `group` file contents (empty when the
/// image has none). `extra_groups` are `GroupAdd` entries (names or numbers).
pub fn resolve(user: &str, passwd: &str, group: &str, extra_groups: &[String]) -> Result<Resolved> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry =
        passwd_entries(passwd).find(|p| p.name == u || u.parse::<u32>().ok() == Some(p.uid));
    let (uid, mut gid, name) = match (u.parse::<u32>(), &entry) {
        (Ok(n), Some(p)) => (n, p.gid, Some(p.name)),
        (Ok(n), None) => (n, 0, None),
        (Err(_), Some(p)) => (p.uid, p.gid, Some(p.name)),
        (Err(_), None) => {
            return Err(Error::invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(group)
                .find(|(n, _, _)| *n == g)
                .map(|(_, id, _)| id)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut additional: Vec<u32> = Vec::new();
    if let Some(name) = name {
        for (_, id, members) in group_entries(group) {
            if members.contains(&name) && id != gid && !additional.contains(&id) {
                additional.push(id);
            }
        }
    }
    for eg in extra_groups {
        let id = match eg.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(group)
                .find(|(n, _, _)| n == eg)
                .map(|(_, id, _)| id)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "unable to find group {eg}: no matching entries in group file"
                    ))
                })?,
        };
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(Resolved {
        uid,
        gid,
        additional_gids: additional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\nnogroup:x:65534:\napp:x:1000:\n";

    #[test]
    fn names_numbers_and_groups() {
        assert_eq!(
            resolve("", PASSWD, GROUP, &[]).unwrap(),
            Resolved {
                uid: 0,
                gid: 0,
                additional_gids: vec![10]
            }
        );
        let r = resolve("app", PASSWD, GROUP, &[]).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids), (1000, 1000, vec![10]));
        let r = resolve("nobody:wheel", PASSWD, GROUP, &[]).unwrap();
        assert_eq!((r.uid, r.gid), (65534, 10));
        let r = resolve("4242:4243", "", "", &["7".into()]).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids), (4242, 4243, vec![7]));
        assert!(resolve("ghost", PASSWD, GROUP, &[])
            .unwrap_err()
            .message
            .contains("unable to find user ghost"));
        assert!(resolve("app:ghosts", PASSWD, GROUP, &[]).is_err());
        assert!(!needs_lookup("1000:1000"));
        assert!(needs_lookup("app"));
        assert!(!needs_lookup(""));
    }
}
