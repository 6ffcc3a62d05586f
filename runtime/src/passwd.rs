//! `HOME` for a process whose environment has none: the home directory of its uid in the
//! container's /etc/passwd (found by `berth_spec::user::home_of`, runc's rule).

use berth_spec::user::home_of;

/// The environment with `HOME` added when it has none (or only an empty one): the home
/// of `uid` in the passwd file `read` returns (empty if its entry has none), or "/" when
/// there is no such entry (or no passwd file at all). The file is read only when needed.
pub fn with_home(env: &[String], read: impl FnOnce() -> Option<String>, uid: u32) -> Vec<String> {
    let has_home = env
        .iter()
        .any(|e| e.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()));
    if has_home {
        return env.to_vec();
    }
    // An entry with an empty home gives an empty HOME, as with runc.
    let passwd = read();
    let home = passwd
        .as_deref()
        .and_then(|p| home_of(p, uid))
        .unwrap_or("/");
    env.iter()
        .filter(|e| !e.starts_with("HOME="))
        .cloned()
        .chain([format!("HOME={home}")])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          \n\
                          broken line\n\
                          odd:x:notanumber:0::/odd:/bin/sh\n\
                          nobody:x:65534:65534:nobody:/home:/bin/false\n\
                          u1:x:1000:1000::/home/u1:/bin/sh\n\
                          again:x:1000:1000::/second:/bin/sh\n\
                          short:x:7:7\n";

    fn file(text: &str) -> impl FnOnce() -> Option<String> + '_ {
        move || Some(text.to_string())
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_first_entry_of_the_uid_gives_the_home() {
        assert_eq!(home_of(PASSWD, 0), Some("/root"));
        assert_eq!(home_of(PASSWD, 65534), Some("/home"));
        assert_eq!(home_of(PASSWD, 1000), Some("/home/u1"));
        assert_eq!(home_of(PASSWD, 7), Some(""));
        assert_eq!(home_of(PASSWD, 4242), None);
        assert_eq!(home_of("", 0), None);
    }

    #[test]
    fn home_is_added_only_when_missing_or_empty() {
        let env = s(&["PATH=/bin", "TERM=xterm"]);
        assert_eq!(
            with_home(&env, file(PASSWD), 1000),
            s(&["PATH=/bin", "TERM=xterm", "HOME=/home/u1"])
        );
        // no entry, or no passwd file: "/"
        assert_eq!(
            with_home(&env, file(PASSWD), 4242).last().unwrap(),
            "HOME=/"
        );
        assert_eq!(with_home(&env, || None, 0).last().unwrap(), "HOME=/");
        // an entry without a home field: an empty HOME
        assert_eq!(with_home(&env, file(PASSWD), 7).last().unwrap(), "HOME=");
        // the process's own HOME wins
        let own = s(&["HOME=/srv", "PATH=/bin"]);
        let unread = || -> Option<String> { panic!("passwd read although HOME is set") };
        assert_eq!(with_home(&own, unread, 0), own);
        // an empty HOME counts as none and is replaced
        assert_eq!(
            with_home(&s(&["HOME=", "A=1"]), file(PASSWD), 0),
            s(&["A=1", "HOME=/root"])
        );
    }
}
