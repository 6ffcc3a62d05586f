//! What every Berth binary says about its build: the git commit of the source (short, as
//! dockerd reports its own; empty when built outside git without `BERTH_REVISION`) and the
//! build time (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).

/// The source's git commit, 7 hex digits, or empty.
pub const GIT_COMMIT: &str = env!("BERTH_GIT_COMMIT");

/// When the binary was built, e.g. `2026-05-07T21:09:36.000000000+00:00`.
pub const BUILD_TIME: &str = env!("BERTH_BUILD_TIME");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_is_short_hex_and_the_time_rfc3339() {
        assert!(
            option_env!("BERTH_REVISION").is_some()
                || GIT_COMMIT.is_empty()
                || (GIT_COMMIT.len() >= 7 && GIT_COMMIT.bytes().all(|b| b.is_ascii_hexdigit())),
            "{GIT_COMMIT}"
        );
        let t = BUILD_TIME.as_bytes();
        assert_eq!(t.len(), 35, "{BUILD_TIME}");
        assert_eq!((t[4], t[7], t[10], t[19]), (b'-', b'-', b'T', b'.'));
        assert!(BUILD_TIME.ends_with("+00:00"), "{BUILD_TIME}");
    }
}
