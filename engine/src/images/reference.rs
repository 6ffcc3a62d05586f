//! Image names the docker way: "busybox" is "docker.io/library/busybox:latest" in shimd and
//! "busybox:latest" to the user.

use berth_image::reference::Reference;

use crate::error::{Error, Result};

/// Parses and fully qualifies a user's image reference (a bare name gets ":latest").
pub fn normalize(r: &str) -> Result<Reference> {
    Reference::parse(r).map_err(|e| Error::invalid(format!("invalid reference format: {e}")))
}

/// The fully qualified name of an image `commit` or `import` makes, from the request's
/// `repo` and `tag`. A bad name is a 500, dockerd 20.10's status for it there.
pub fn normalize_new_name(repo: &str, tag: &str) -> Result<String> {
    if repo.is_empty() {
        return Err(Error::invalid(
            "a repository name is required: images without a name are not kept (give REPOSITORY[:TAG])",
        ));
    }
    if repo.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::internal(
            "invalid reference format: repository name must be lowercase",
        ));
    }
    let full = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    let r = normalize(&full).map_err(|e| Error::internal(e.message))?;
    Ok(taggable(r)?.to_string())
}

/// `r` if an image may be given it as a new name: not a digest reference, and not a name
/// that reads as a digest algorithm (`sha256:abc` would be taken for a digest later).
pub fn taggable(r: Reference) -> Result<Reference> {
    if r.digest.is_some() {
        return Err(Error::invalid(
            "refusing to create a tag with a digest reference",
        ));
    }
    if familiar(&r.name()) == "sha256" {
        return Err(Error::invalid(
            "refusing to create an ambiguous tag using digest algorithm as name",
        ));
    }
    Ok(r)
}

/// The short form docker shows: "docker.io/library/x:t" → "x:t", "docker.io/u/x:t" → "u/x:t".
pub fn familiar(full: &str) -> String {
    if let Some(rest) = full.strip_prefix("docker.io/") {
        rest.strip_prefix("library/").unwrap_or(rest).to_string()
    } else {
        full.to_string()
    }
}

/// "repo" part of a full name, without tag or digest, in the familiar form.
pub fn familiar_repo(full: &str) -> String {
    let r = match Reference::parse(full) {
        Ok(r) => r.name(),
        Err(_) => full.to_string(),
    };
    familiar(&r)
}

/// The repository path as pull progress names it: "library/busybox" on docker.io,
/// "busybox" on other registries.
pub fn remote_path(r: &Reference) -> String {
    r.repository.clone()
}

/// True for names that carry a tag (not only a digest).
pub fn has_tag(full: &str) -> bool {
    Reference::parse(full)
        .map(|r| r.tag.is_some())
        .unwrap_or(false)
}

/// True when `s` can only be an image ID or ID prefix ("sha256:..." or plain hex).
pub fn looks_like_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    !hex.is_empty()
        && hex.len() <= 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_names() {
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(familiar("docker.io/me/app:1"), "me/app:1");
        assert_eq!(
            familiar("127.0.0.1:5000/busybox:latest"),
            "127.0.0.1:5000/busybox:latest"
        );
        assert_eq!(familiar_repo("docker.io/library/busybox:latest"), "busybox");
        assert_eq!(
            normalize("busybox").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert!(normalize("Busy box").is_err());
        assert!(looks_like_id("sha256:abc"));
        assert!(looks_like_id("0123abcd"));
        assert!(!looks_like_id("busybox"));
        assert!(has_tag("docker.io/library/busybox:latest"));
    }

    #[test]
    fn names_that_read_as_digests_are_not_taggable() {
        let refused = |r: &str| taggable(normalize(r).unwrap()).unwrap_err().message;
        assert_eq!(
            refused("sha256:abc"),
            "refusing to create an ambiguous tag using digest algorithm as name"
        );
        assert_eq!(
            refused(&format!("busybox@sha256:{}", "a".repeat(64))),
            "refusing to create a tag with a digest reference"
        );
        assert!(taggable(normalize("x:sha256").unwrap()).is_ok());
        assert!(taggable(normalize("me/sha256:1").unwrap()).is_ok());
    }
}
