//! `checkpoint` and `restore`: runc makes them with CRIU, which berth-runtime does not
//! drive. Both commands exist (with runc's flags, so a caller's command line parses) and
//! fail saying so, after the checks runc makes first; the container is left as it was.

use crate::cli::{self, flag, opt, FlagSpec, Trailing};
use crate::create::Global;
use crate::error::{bail, Result};
use crate::state::{self, Status};

const CHECKPOINT_FLAGS: &[FlagSpec] = &[
    opt(&["image-path"]),
    opt(&["work-path"]),
    opt(&["parent-path"]),
    flag(&["leave-running"]),
    flag(&["tcp-established"]),
    flag(&["ext-unix-sk"]),
    flag(&["shell-job"]),
    flag(&["lazy-pages"]),
    opt(&["status-fd"]),
    opt(&["page-server"]),
    flag(&["file-locks"]),
    flag(&["pre-dump"]),
    opt(&["manage-cgroups-mode"]),
    opt(&["empty-ns"]),
    flag(&["auto-dedup"]),
];

const RESTORE_FLAGS: &[FlagSpec] = &[
    opt(&["console-socket"]),
    opt(&["image-path"]),
    opt(&["work-path"]),
    flag(&["tcp-established"]),
    flag(&["ext-unix-sk"]),
    flag(&["shell-job"]),
    flag(&["file-locks"]),
    opt(&["manage-cgroups-mode"]),
    opt(&["bundle", "b"]),
    flag(&["detach", "d"]),
    opt(&["pid-file"]),
    flag(&["no-subreaper"]),
    flag(&["no-pivot"]),
    opt(&["empty-ns"]),
    flag(&["auto-dedup"]),
    flag(&["lazy-pages"]),
    opt(&["lsm-profile"]),
    opt(&["lsm-mount-context"]),
];

fn unsupported(what: &str) -> String {
    format!(
        "{what} failed: it needs CRIU, which berth-runtime does not support; \
         use runc with criu installed to checkpoint and restore containers"
    )
}

fn one_id(p: &cli::Parsed, cmd: &str) -> Result<String> {
    match p.positional.as_slice() {
        [id] => Ok(id.clone()),
        [] => bail!("{cmd}: container id is required"),
        _ => bail!("{cmd}: expected one container id, got {:?}", p.positional),
    }
}

/// `checkpoint [flags] ID`: a running (or paused) container is left running.
pub fn checkpoint(g: &Global, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, CHECKPOINT_FLAGS, Trailing::Flags, "checkpoint")?;
    let id = one_id(&p, "checkpoint")?;
    let st = state::load(&g.root, &id)?;
    match st.status(&g.root) {
        s @ (Status::Created | Status::Stopped) => {
            bail!(
                "container {id} cannot be checkpointed in {} state",
                s.as_str()
            )
        }
        Status::Running | Status::Paused => bail!(
            "{}; container {id} is left running",
            unsupported("checkpoint")
        ),
    }
}

/// `restore [flags] ID`: nothing is created.
pub fn restore(g: &Global, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, RESTORE_FLAGS, Trailing::Flags, "restore")?;
    let id = one_id(&p, "restore")?;
    if state::load(&g.root, &id).is_ok() {
        bail!("container {id} already exists");
    }
    bail!("{}", unsupported("restore"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_parse_runcs_flags_and_say_criu_is_needed() {
        let d = tempfile::tempdir().unwrap();
        let g = Global {
            root: d.path().to_path_buf(),
            systemd_cgroup: false,
        };
        let e = restore(&g, &args(&["--image-path", "/i", "-d", "--bundle=/b", "x"]))
            .unwrap_err()
            .0;
        assert!(e.starts_with("restore failed: it needs CRIU"), "{e}");
        let e = checkpoint(&g, &args(&["--leave-running", "--image-path", "/i", "x"]))
            .unwrap_err()
            .0;
        assert_eq!(e, "container x does not exist");
        let e = checkpoint(&g, &args(&["--bogus", "x"])).unwrap_err().0;
        assert_eq!(e, "checkpoint: unknown flag --bogus (see --help)");
    }
}
