//! The build cache. A step's image is named in shimd after a digest of everything that
//! decides its content: the parent image ID, the instruction with its arguments expanded
//! (the build arguments in effect included, as RUN's history text carries them) and, for
//! COPY and ADD, a digest of the sources' content and metadata (never their times). The
//! same step on the same parent finds its image again by that name, across berthd
//! restarts (shimd keeps the names); such names are hidden from `docker images`.

use sha2::{Digest, Sha256};

/// The repository of cached step images.
pub const REPOSITORY: &str = "berth.build/cache";

/// The shimd name of the image without layers that a step on `scratch` starts its
/// container from.
pub fn scratch_name() -> String {
    format!("{REPOSITORY}:scratch")
}

/// Whether a fully qualified image name is a cached build step.
pub fn is_step_image(name: &str) -> bool {
    name.strip_prefix(REPOSITORY)
        .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'))
}

/// A step's cache key.
pub fn key(parent: Option<&str>, step: &str, extra: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in [parent.unwrap_or("scratch"), step].iter().chain(extra) {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The shimd name of the step image with this key.
pub fn name(key: &str) -> String {
    format!("{REPOSITORY}:{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_every_part() {
        let a = key(Some("sha256:1"), "RUN x", &[]);
        assert_eq!(a, key(Some("sha256:1"), "RUN x", &[]));
        assert_ne!(a, key(Some("sha256:2"), "RUN x", &[]));
        assert_ne!(a, key(Some("sha256:1"), "RUN y", &[]));
        assert_ne!(a, key(Some("sha256:1"), "RUN x", &["net"]));
        assert!(is_step_image(&name(&a)));
        assert!(!is_step_image("docker.io/library/busybox:latest"));
        assert!(berth_image::reference::Reference::parse(&name(&a)).is_ok());
    }
}
