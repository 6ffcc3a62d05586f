//! The snapshotter: filesystem trees for image layers and container root filesystems.
//!
//! Each snapshot lives in `<root>/snapshots/<id>/` (`id` a short decimal number, so overlay
//! mount options stay short): `fs/` holds its files, `work/` is overlayfs's work dir.
//! Records (kind, parent, labels, id) live in the SNAPSHOTS table, keyed by namespace and
//! key. Committed snapshots of image layers are named by chain ID ("sha256:...") and shared
//! by every container of the image.
//!
//! - overlayfs: `fs/` of a snapshot holds only its own changes; an active snapshot mounts
//!   as overlay with its parents' `fs/` as lower dirs. Layers are applied straight into
//!   `fs/` (whiteouts as overlay expects them), so unpacking needs no mount.
//! - native: `fs/` is a full copy of the parent plus changes; mounts are bind mounts.
//!   Chosen by `snapshotter = "native"`, or when an overlay test mount fails at start-up.
//!
//! Crash safety: a directory is created before its record is committed and removed after
//! its record is deleted; at start-up directories without a record are removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_proto::v1::{Mount, SnapshotInfo, SnapshotKind};
use tonic::Status;

use crate::events::{now, EventBus};
use crate::metadata::{Db, SNAPSHOTS};
use berth_image::mount::MOUNT_DATA_MAX;

/// The most lower layers overlayfs stacks in one mount.
const OVERLAY_MAX_LOWER: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Overlay,
    Native,
}

impl Driver {
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Overlay => "overlayfs",
            Driver::Native => "native",
        }
    }
}

/// A SNAPSHOTS record: the public info and the directory id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredSnapshot {
    #[prost(message, optional, tag = "1")]
    pub info: Option<SnapshotInfo>,
    #[prost(uint64, tag = "2")]
    pub id: u64,
}

pub struct Snapshotter {
    root: PathBuf,
    driver: Driver,
    db: Db,
    events: EventBus,
    next_id: AtomicU64,
    /// Why overlay is not used, when it is not.
    pub warning: Option<String>,
    /// Whether overlay takes the `volatile` option (Linux 5.10).
    volatile: bool,
}

fn not_found(key: &str) -> Status {
    Status::not_found(format!("snapshot {key:?} not found"))
}

fn io_status(what: String, e: impl std::fmt::Display) -> Status {
    Status::internal(format!("{what}: {e}"))
}

impl Snapshotter {
    /// Opens the snapshotter under `root` (`<root>/snapshots`), picking the driver.
    pub fn open(
        root: &Path,
        configured: &str,
        db: Db,
        events: EventBus,
    ) -> anyhow::Result<Snapshotter> {
        let dir = root.join("snapshots");
        std::fs::create_dir_all(&dir)?;
        let (driver, warning) = match configured {
            "native" => (Driver::Native, None),
            "overlayfs" | "overlay" | "" => match overlay_works(root) {
                Ok(()) => (Driver::Overlay, None),
                Err(e) => {
                    let w = format!("overlayfs is not usable here ({e}); using full copies (native snapshotter)");
                    tracing::warn!("{w}");
                    (Driver::Native, Some(w))
                }
            },
            other => anyhow::bail!(
                "unknown snapshotter {other:?} in the config: use \"overlayfs\" or \"native\""
            ),
        };
        let volatile = driver == Driver::Overlay && overlay_mounts(root, ",volatile").is_ok();
        let s = Snapshotter {
            root: dir,
            driver,
            db,
            events,
            next_id: AtomicU64::new(1),
            warning,
            volatile,
        };
        s.recover()?;
        Ok(s)
    }

    pub fn driver(&self) -> Driver {
        self.driver
    }

    fn dir(&self, id: u64) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// The directory holding a snapshot's own files.
    pub fn fs_dir(&self, id: u64) -> PathBuf {
        self.dir(id).join("fs")
    }

    /// Removes directories without records and leftovers of interrupted unpacks.
    fn recover(&self) -> anyhow::Result<()> {
        let all: Vec<(String, String, StoredSnapshot)> = self.db.list_all(SNAPSHOTS)?;
        for (ns, key, rec) in &all {
            if key.starts_with(crate::unpack::EXTRACT_PREFIX) {
                tracing::info!(namespace = %ns, key = %key, "removing an interrupted unpack");
                let _ = self.db.delete(SNAPSHOTS, ns, key);
                let _ = std::fs::remove_dir_all(self.dir(rec.id));
            }
        }
        let all: Vec<(String, String, StoredSnapshot)> = self.db.list_all(SNAPSHOTS)?;
        let known: std::collections::HashSet<u64> = all.iter().map(|(_, _, r)| r.id).collect();
        let mut max = all.iter().map(|(_, _, r)| r.id).max().unwrap_or(0);
        for e in std::fs::read_dir(&self.root)? {
            let e = e?;
            let Some(id) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            max = max.max(id);
            if !known.contains(&id) {
                tracing::info!(dir = %e.path().display(), "removing a snapshot directory without a record");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        self.next_id.store(max + 1, Ordering::SeqCst);
        Ok(())
    }

    pub fn get(&self, ns: &str, key: &str) -> Result<StoredSnapshot, Status> {
        self.db
            .get::<StoredSnapshot>(SNAPSHOTS, ns, key)?
            .ok_or_else(|| not_found(key))
    }

    pub fn exists(&self, ns: &str, key: &str) -> Result<bool, Status> {
        Ok(self.db.get::<StoredSnapshot>(SNAPSHOTS, ns, key)?.is_some())
    }

    pub fn list(&self, ns: &str) -> Result<Vec<StoredSnapshot>, Status> {
        Ok(self
            .db
            .list::<StoredSnapshot>(SNAPSHOTS, ns)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// A snapshot and its ancestors, nearest first.
    fn chain(&self, ns: &str, key: &str) -> Result<Vec<StoredSnapshot>, Status> {
        let mut out = Vec::new();
        let mut k = key.to_string();
        while !k.is_empty() {
            let r = self.get(ns, &k)?;
            k = r
                .info
                .as_ref()
                .map(|i| i.parent.clone())
                .unwrap_or_default();
            out.push(r);
            if out.len() > 1000 {
                return Err(Status::internal(format!("snapshot {key:?}: parent loop")));
            }
        }
        Ok(out)
    }

    /// The directory of a snapshot's own files and those of its ancestors, nearest first.
    pub fn layer_dirs(&self, ns: &str, key: &str) -> Result<(PathBuf, Vec<PathBuf>), Status> {
        let mut chain = self.chain(ns, key)?.into_iter().map(|r| self.fs_dir(r.id));
        let own = chain
            .next()
            .ok_or_else(|| Status::not_found(format!("snapshot {key:?} not found")))?;
        Ok((own, chain.collect()))
    }

    /// A new active snapshot (or view) on top of `parent`; returns its mounts.
    pub fn prepare(
        &self,
        ns: &str,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
        view: bool,
    ) -> Result<Vec<Mount>, Status> {
        validate_key(key)?;
        if !parent.is_empty() {
            let p = self.get(ns, parent).map_err(|_| {
                Status::not_found(format!("parent snapshot {parent:?} of {key:?} not found"))
            })?;
            if kind_of(&p) != SnapshotKind::Committed {
                return Err(Status::failed_precondition(format!(
                    "parent {parent:?} of snapshot {key:?} is not committed"
                )));
            }
        }
        if self.exists(ns, key)? {
            return Err(Status::already_exists(format!(
                "snapshot {key:?} already exists"
            )));
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let dir = self.dir(id);
        let made = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(dir.join("fs"))?;
            if self.driver == Driver::Overlay {
                std::fs::create_dir_all(dir.join("work"))?;
            } else if !parent.is_empty() {
                let p = self.get(ns, parent).map_err(std::io::Error::other)?;
                copy_tree(&self.fs_dir(p.id), &dir.join("fs"))?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(io_status(format!("preparing snapshot {key:?}"), e));
        }
        let t = now();
        let rec = StoredSnapshot {
            info: Some(SnapshotInfo {
                name: key.to_string(),
                parent: parent.to_string(),
                kind: if view {
                    SnapshotKind::View
                } else {
                    SnapshotKind::Active
                } as i32,
                labels,
                created_at: Some(t),
                updated_at: Some(t),
            }),
            id,
        };
        let r = self
            .db
            .write(|tx| tx.insert_new(SNAPSHOTS, ns, key, &rec, "snapshot"));
        if let Err(e) = r {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.events
            .publish(ns, "/snapshots/prepare", [("key", key), ("parent", parent)]);
        self.mounts(ns, key)
    }

    /// How to mount an active snapshot or a view.
    pub fn mounts(&self, ns: &str, key: &str) -> Result<Vec<Mount>, Status> {
        let rec = self.get(ns, key)?;
        let kind = kind_of(&rec);
        if kind == SnapshotKind::Committed {
            return Err(Status::failed_precondition(format!(
                "snapshot {key:?} is committed; prepare an active snapshot or a view on it"
            )));
        }
        let ro = kind == SnapshotKind::View;
        let bind = |src: PathBuf, ro: bool| Mount {
            r#type: "bind".into(),
            source: src.display().to_string(),
            target: String::new(),
            options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
        };
        if self.driver == Driver::Native {
            return Ok(vec![bind(self.fs_dir(rec.id), ro)]);
        }
        let parents = self.chain(ns, key)?.split_off(1);
        if parents.is_empty() {
            return Ok(vec![bind(self.fs_dir(rec.id), ro)]);
        }
        if ro && parents.len() == 1 {
            return Ok(vec![bind(self.fs_dir(parents[0].id), true)]);
        }
        let lower: Vec<String> = parents
            .iter()
            .map(|p| self.fs_dir(p.id).display().to_string())
            .collect();
        let mut options = Vec::new();
        if !ro {
            let work = self.dir(rec.id).join("work");
            if self.volatile && is_volatile(&rec) {
                // Overlay refuses to mount a volatile upper dir again while this marker of
                // its last volatile mount is there; the label accepted the risk.
                let _ = std::fs::remove_dir_all(work.join("work/incompat/volatile"));
                options.push("volatile".into());
            }
            options.push(format!("workdir={}", work.display()));
            options.push(format!("upperdir={}", self.fs_dir(rec.id).display()));
        }
        options.push(format!("lowerdir={}", lower.join(":")));
        // Options over one page are mounted relative to the snapshots directory
        // (berth_image::mount); refuse only what cannot be mounted even then.
        let data = options.join(",");
        let fits = data.len() <= MOUNT_DATA_MAX
            || berth_image::mount::relative_overlay_data(&data)
                .is_some_and(|(_, short)| short.len() <= MOUNT_DATA_MAX);
        if parents.len() > OVERLAY_MAX_LOWER || !fits {
            return Err(Status::failed_precondition(format!(
                "snapshot {key:?} has {} layers: overlayfs mounts at most {OVERLAY_MAX_LOWER}",
                parents.len()
            )));
        }
        Ok(vec![Mount {
            r#type: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options,
        }])
    }

    /// Turns the active snapshot `key` into the committed snapshot `name`. `parent`
    /// overrides the recorded parent (used when layers were unpacked in parallel).
    pub fn commit(
        &self,
        ns: &str,
        name: &str,
        key: &str,
        labels: HashMap<String, String>,
        parent: Option<&str>,
    ) -> Result<(), Status> {
        validate_key(name)?;
        let rec = self.get(ns, key)?;
        if kind_of(&rec) != SnapshotKind::Active {
            return Err(Status::failed_precondition(format!(
                "snapshot {key:?} is not active; only active snapshots can be committed"
            )));
        }
        if let Some(p) = parent.filter(|p| !p.is_empty()) {
            self.get(ns, p)?;
        }
        let mut info = rec.info.clone().unwrap_or_default();
        info.name = name.to_string();
        info.kind = SnapshotKind::Committed as i32;
        if let Some(p) = parent {
            info.parent = p.to_string();
        }
        info.labels.extend(labels);
        info.updated_at = Some(now());
        let new = StoredSnapshot {
            info: Some(info),
            id: rec.id,
        };
        self.db.write(|tx| {
            if tx.get::<StoredSnapshot>(SNAPSHOTS, ns, key)?.is_none() {
                return Err(not_found(key));
            }
            tx.insert_new(SNAPSHOTS, ns, name, &new, "snapshot")?;
            tx.delete(SNAPSHOTS, ns, key)?;
            Ok(())
        })?;
        let _ = std::fs::remove_dir_all(self.dir(rec.id).join("work"));
        self.events
            .publish(ns, "/snapshots/commit", [("key", key), ("name", name)]);
        Ok(())
    }

    /// Removes a snapshot; refused while another snapshot has it as parent.
    pub fn remove(&self, ns: &str, key: &str) -> Result<(), Status> {
        let rec = self.db.write(|tx| {
            let rec: StoredSnapshot = tx.get(SNAPSHOTS, ns, key)?.ok_or_else(|| not_found(key))?;
            let all: Vec<(String, StoredSnapshot)> = tx.list(SNAPSHOTS, ns)?;
            if let Some((child, _)) = all
                .iter()
                .find(|(_, r)| r.info.as_ref().is_some_and(|i| i.parent == key))
            {
                return Err(Status::failed_precondition(format!(
                    "snapshot {key:?} is the parent of {child:?}; remove that first"
                )));
            }
            tx.delete(SNAPSHOTS, ns, key)?;
            Ok(rec)
        })?;
        remove_snapshot_dir(&self.dir(rec.id));
        self.events.publish(ns, "/snapshots/remove", [("key", key)]);
        Ok(())
    }

    /// Bytes and inodes of a snapshot's own files, the bytes as docker counts a layer's
    /// (file lengths, directories not counted), so a fresh container's layer is 0.
    pub fn usage(&self, ns: &str, key: &str) -> Result<(u64, u64), Status> {
        let rec = self.get(ns, key)?;
        berth_image::fsutil::apparent_usage(&self.fs_dir(rec.id))
            .map_err(|e| io_status(format!("measuring snapshot {key:?}"), e))
    }

    /// Bytes and count of every snapshot directory.
    pub fn total_usage(&self) -> (u64, u32) {
        let mut bytes = 0;
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                n += 1;
                bytes += berth_image::fsutil::disk_usage(&e.path())
                    .map(|u| u.0)
                    .unwrap_or(0);
            }
        }
        (bytes, n)
    }
}

pub fn kind_of(r: &StoredSnapshot) -> SnapshotKind {
    r.info
        .as_ref()
        .and_then(|i| SnapshotKind::try_from(i.kind).ok())
        .unwrap_or(SnapshotKind::Unknown)
}

fn validate_key(key: &str) -> Result<(), Status> {
    if key.is_empty() || key.len() > 512 || key.contains('\0') {
        return Err(Status::invalid_argument(format!(
            "invalid snapshot key {key:?}: 1 to 512 characters, no NUL"
        )));
    }
    Ok(())
}

/// Removes a snapshot directory; its files may be read-only or owned by anyone.
fn remove_snapshot_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove snapshot directory");
        }
    }
}

/// A full copy preserving owners, modes, times, links, xattrs and special files.
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(format!("{}/.", src.display()))
        .arg(dst)
        .stdin(std::process::Stdio::null())
        .status()?;
    if st.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "cp -a {} {} failed ({st})",
            src.display(),
            dst.display()
        )))
    }
}

/// Whether the snapshot carries [`berth_proto::SNAPSHOT_VOLATILE_LABEL`].
fn is_volatile(rec: &StoredSnapshot) -> bool {
    rec.info
        .as_ref()
        .and_then(|i| i.labels.get(berth_proto::SNAPSHOT_VOLATILE_LABEL))
        .is_some_and(|v| v == "true")
}

/// Tries an overlay mount in a scratch directory under `root`.
fn overlay_works(root: &Path) -> Result<(), String> {
    overlay_mounts(root, "")
}

/// Tries an overlay mount with `extra` options (",opt,...") in a scratch directory.
fn overlay_mounts(root: &Path, extra: &str) -> Result<(), String> {
    let t = root.join(format!("overlay-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&t);
    let r = (|| -> Result<(), String> {
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(t.join(d)).map_err(|e| e.to_string())?;
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}{extra}",
            t.join("lower").display(),
            t.join("upper").display(),
            t.join("work").display()
        );
        nix::mount::mount(
            Some("overlay"),
            &t.join("merged"),
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| format!("overlay mount: {e}"))?;
        let _ = nix::mount::umount2(&t.join("merged"), nix::mount::MntFlags::MNT_DETACH);
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&t);
    r
}
