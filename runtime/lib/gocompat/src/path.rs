//! Go's `path/filepath` functions on Linux (slash-separated) paths, as dockerd applies them
//! to `.dockerignore` patterns, COPY/ADD paths and WORKDIR: purely lexical, no file
//! system access.

/// `filepath.Clean`: the shortest equivalent path; `.` and empty elements removed, `..`
/// removing the element before it (never past the root), `.` for an empty result.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// `filepath.Join`: the non-empty elements joined with `/`, then cleaned; empty when all
/// elements are empty.
pub fn join(parts: &[&str]) -> String {
    let kept: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if kept.is_empty() {
        return String::new();
    }
    clean(&kept.join("/"))
}

/// `filepath.Dir`: everything but the last element, cleaned.
pub fn dir(path: &str) -> String {
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values as Go 1.19's path/filepath answers on Linux.
    #[test]
    fn cleans_like_go() {
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("//", "/"),
            ("a/b/", "a/b"),
            ("a//b", "a/b"),
            ("./a/./b/.", "a/b"),
            ("a/../b", "b"),
            ("a/../..", ".."),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("/a/b/../../..", "/"),
            ("a/b/../../../c/..", ".."),
            ("!a", "!a"),
            ("**/*.go", "**/*.go"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn joins_and_splits_like_go() {
        assert_eq!(join(&["/", "", "a"]), "/a");
        assert_eq!(join(&["", ""]), "");
        assert_eq!(join(&["a", "../b"]), "b");
        assert_eq!(dir("a/b/c"), "a/b");
        assert_eq!(dir("a"), ".");
        assert_eq!(dir("/a"), "/");
        assert_eq!(dir(""), ".");
    }
}
