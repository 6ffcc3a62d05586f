//! Finds the git commit of the source tree and the build time, for `berth-buildinfo`.
//!
//! `BERTH_REVISION` overrides the commit (a build from a tarball has no git), and
//! `SOURCE_DATE_EPOCH` the build time (reproducible builds). The script runs again when
//! the checked-out commit changes, so the binaries never report a stale one.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Days since 1970-01-01 as (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3339 in UTC with nanoseconds, the form dockerd reports its `BuildTime` in.
fn rfc3339(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.000000000+00:00",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// Asks cargo to run this script again when `path` of the git directory changes. Only
/// files that exist are named: cargo runs a script on every build while a file it was
/// told to watch is missing (and `packed-refs`, say, often is).
fn watch_git_file(path: &str) {
    let Some(p) = git(&["rev-parse", "--git-path", path]) else {
        return;
    };
    let p = std::path::Path::new(&p);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_REVISION");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    watch_git_file("HEAD");
    watch_git_file("packed-refs");
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch_git_file(&branch);
    }
    let commit = std::env::var("BERTH_REVISION")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short=7", "HEAD"]))
        .unwrap_or_default();
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BERTH_BUILD_TIME={}", rfc3339(secs));
}
