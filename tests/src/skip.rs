//! Why a test may skip, and what a skip does.
//!
//! A skip names its reason by key: a prerequisite ([`Needs`]: root, or a tool
//! scripts/install-deps.sh installs) or a host limitation ([`Host`], the keys of
//! tests/host-limitations.txt, checked at build time). Outside strict mode every skip skips
//! and says so on stderr. In strict mode (`BERTH_TEST_STRICT=1`, which scripts/test.sh
//! sets, or `CI` set to anything but `false`/`0`) only host limitations skip: a missing
//! prerequisite fails the test, since CI runs as root with every tool installed.
//!
//! With `BERTH_SKIP_LOG` naming a file, each skip appends one line to it (one `write` on a
//! file opened for appending, so the lines of parallel tests and of several test binaries
//! never mix): outcome, kind, key, test, place, why, separated by tabs. scripts/test.sh
//! prints them after `cargo test`.

use std::io::Write;
use std::process::{Command, Stdio};

include!(concat!(env!("OUT_DIR"), "/host_limitations.rs"));

/// A prerequisite of a test: root, or a tool scripts/install-deps.sh installs. Never a
/// reason to skip in strict mode.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    root,
    docker_cli,
    dockerd,
    docker_registry,
    htpasswd,
    containerd,
    skopeo,
    crun,
    script,
    shells,
}

impl Needs {
    pub fn key(self) -> &'static str {
        match self {
            Needs::root => "root",
            Needs::docker_cli => "docker_cli",
            Needs::dockerd => "dockerd",
            Needs::docker_registry => "docker_registry",
            Needs::htpasswd => "htpasswd",
            Needs::containerd => "containerd",
            Needs::skopeo => "skopeo",
            Needs::crun => "crun",
            Needs::script => "script",
            Needs::shells => "shells",
        }
    }

    pub fn explanation(self) -> &'static str {
        match self {
            Needs::root => "needs root (namespaces, cgroups, mounts)",
            Needs::docker_cli => {
                "needs the docker CLI (/usr/local/bin/docker or /usr/bin/docker; \
                 scripts/install-deps.sh installs docker.io)"
            }
            Needs::dockerd => "needs Debian's dockerd (scripts/install-deps.sh installs docker.io)",
            Needs::docker_registry => {
                "needs Debian's docker-registry (scripts/install-deps.sh installs it)"
            }
            Needs::htpasswd => "needs htpasswd (scripts/install-deps.sh installs apache2-utils)",
            Needs::containerd => {
                "needs containerd and ctr (scripts/install-deps.sh installs containerd)"
            }
            Needs::skopeo => "needs skopeo (scripts/install-deps.sh installs it)",
            Needs::crun => "needs crun (scripts/install-deps.sh installs it)",
            Needs::script => "needs script(1) (Debian's bsdutils)",
            Needs::shells => "needs zsh and fish (scripts/install-deps.sh installs them)",
        }
    }

    /// Is it there?
    pub fn present(self) -> bool {
        match self {
            Needs::root => crate::is_root(),
            Needs::docker_cli => crate::berthd::docker_cli().is_some(),
            Needs::dockerd => crate::dockerd::available(),
            Needs::docker_registry => crate::registry::available(),
            Needs::htpasswd => crate::registry::htpasswd_available(),
            Needs::containerd => runs("containerd", "--version") && runs("ctr", "--version"),
            Needs::skopeo => runs("skopeo", "--version"),
            Needs::crun => runs("crun", "--version"),
            Needs::script => runs("script", "--version"),
            Needs::shells => runs("zsh", "--version") && runs("fish", "--version"),
        }
    }
}

/// Does `prog arg` run and succeed?
fn runs(prog: &str, arg: &str) -> bool {
    Command::new(prog)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why a test skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Needs(Needs),
    Host(Host),
}

impl Reason {
    fn kind(self) -> &'static str {
        match self {
            Reason::Needs(_) => "needs",
            Reason::Host(_) => "host",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Reason::Needs(n) => n.key(),
            Reason::Host(h) => h.key(),
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Reason::Needs(n) => n.explanation(),
            Reason::Host(h) => h.explanation(),
        }
    }

    /// May a test skip for this reason in strict mode?
    pub fn allowed_when_strict(self) -> bool {
        matches!(self, Reason::Host(_))
    }
}

/// Must skips be host limitations? `BERTH_TEST_STRICT` decides when set, else `CI`.
pub fn strict() -> bool {
    let on = |v: String| !matches!(v.trim(), "" | "0" | "false" | "no");
    match std::env::var("BERTH_TEST_STRICT") {
        Ok(v) => on(v),
        Err(_) => std::env::var("CI").is_ok_and(on),
    }
}

/// The running test: libtest names each test's thread after it; the binary's name without
/// cargo's hash says which test binary.
fn test_name() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| match s.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => s,
        })
        .unwrap_or_default();
    let thread = std::thread::current();
    format!("{binary} {}", thread.name().unwrap_or("?"))
}

/// One line of the skip log: outcome, kind, key, test, place, why (tabs and newlines in
/// the free text become spaces).
fn log_line(outcome: &str, reason: Reason, test: &str, place: &str, why: &str) -> String {
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    format!(
        "{outcome}\t{}\t{}\t{}\t{place}\t{}\n",
        reason.kind(),
        reason.key(),
        clean(test),
        clean(why)
    )
}

fn append_to_log(line: &str) {
    let Some(path) = std::env::var_os("BERTH_SKIP_LOG").filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "cannot record the skip in {}: {e}",
            std::path::Path::new(&path).display()
        );
    }
}

/// What [`skip!`](crate::skip) does: records the skip, then fails the test if the
/// reason is no host limitation and skips must be (strict mode); otherwise says why on
/// stderr and lets the caller return.
pub fn report(reason: Reason, detail: &str, place: &str) {
    let mut why = reason.explanation().to_string();
    if !detail.is_empty() {
        why = format!("{why} ({detail})");
    }
    let test = test_name();
    let fails = strict() && !reason.allowed_when_strict();
    append_to_log(&log_line(
        if fails { "FAILED" } else { "skipped" },
        reason,
        &test,
        place,
        &why,
    ));
    if fails {
        panic!(
            "{test} cannot run ({place}): {}: {why}. Only host limitations \
             (tests/host-limitations.txt) may skip a test when BERTH_TEST_STRICT=1 or CI is set.",
            reason.key()
        );
    }
    // Straight to the descriptor: libtest shows what `eprintln!` prints only for failed
    // tests, and a skip must be seen.
    let _ = std::io::stderr()
        .write_all(format!("SKIPPED {test} ({}): {why}\n", reason.key()).as_bytes());
}

/// The first of `needs` that is missing.
pub fn first_missing(needs: &[Needs]) -> Option<Needs> {
    needs.iter().copied().find(|n| !n.present())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_limitations_may_skip_when_strict() {
        assert!(Reason::Host(Host::ALL[0]).allowed_when_strict());
        assert!(!Reason::Needs(Needs::root).allowed_when_strict());
        assert!(!Reason::Needs(Needs::docker_cli).allowed_when_strict());
    }

    #[test]
    fn the_list_is_read_with_its_explanations() {
        let list = include_str!("../host-limitations.txt");
        for h in Host::ALL {
            assert!(
                list.contains(&format!("\n{}: {}", h.key(), h.explanation())),
                "{h:?}"
            );
        }
    }

    #[test]
    fn log_lines_are_one_line_of_six_fields() {
        let l = log_line(
            "skipped",
            Reason::Needs(Needs::dockerd),
            "cli dockerd",
            "tests/src/cli.rs:380",
            "why\twith\ntabs",
        );
        assert!(l.ends_with('\n'));
        let fields: Vec<&str> = l.trim_end().split('\t').collect();
        assert_eq!(
            fields,
            [
                "skipped",
                "needs",
                "dockerd",
                "cli dockerd",
                "tests/src/cli.rs:380",
                "why with tabs"
            ]
        );
    }
}
