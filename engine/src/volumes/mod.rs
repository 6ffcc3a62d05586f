//! Volumes of the local driver: `<data-root>/volumes/<name>/_data`, with the volume's record
//! (`volume.json`: driver, options, labels, creation time) beside it, written atomically.
//! Volumes with mount options (`type`/`device`) are mounted on `_data` while containers use
//! them. Which containers use a volume comes from the containers' records (plus the creates
//! in progress, held here), so it cannot drift from them.

pub mod containers;
pub mod copyup;
pub mod mounter;
pub mod names;
pub mod options;
pub mod size;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use berth_api::volume::ANONYMOUS_LABEL;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The only volume driver.
pub const DRIVER: &str = "local";
const RECORD_FILE: &str = "volume.json";
const DATA_DIR: &str = "_data";

/// What the engine keeps about a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub driver: String,
    /// `None` when the volume was made without labels (inspect shows `null`).
    pub labels: Option<BTreeMap<String, String>>,
    /// The driver options; `None` when none were given.
    pub options: Option<BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
}

impl Record {
    pub fn is_anonymous(&self) -> bool {
        self.labels
            .as_ref()
            .map(|l| l.contains_key(ANONYMOUS_LABEL))
            .unwrap_or(false)
    }

    /// What is mounted on the volume's directory while it is used, if anything.
    pub fn mount_spec(&self) -> Option<options::MountSpec> {
        self.options.as_ref().and_then(options::mount_spec)
    }

    /// Options that make the volume something else than a directory (not measured, not
    /// pruned: there is no local space to reclaim).
    pub fn has_options(&self) -> bool {
        self.options
            .as_ref()
            .map(|o| !o.is_empty())
            .unwrap_or(false)
    }
}

/// A volume to create.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    /// Empty: an anonymous volume (a generated name and the anonymous label).
    pub name: String,
    pub driver: String,
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// Volume name → the containers using it.
pub type Users = HashMap<String, BTreeSet<String>>;

#[derive(Default)]
struct Inner {
    volumes: BTreeMap<String, Record>,
    /// Container id → volumes it is being created with (not yet in its record).
    pending: HashMap<String, BTreeSet<String>>,
    /// Volume name → the users holding its mount (volumes with mount options).
    mounted_by: HashMap<String, BTreeSet<String>>,
    /// Containers whose current run holds their volumes (from start to the end of the run).
    runs: std::collections::HashSet<String>,
}

pub struct Volumes {
    root: PathBuf,
    inner: Mutex<Inner>,
    /// One copy-up at a time, so two new containers do not fill one new volume together.
    pub copy_lock: tokio::sync::Mutex<()>,
}

fn no_such(name: &str) -> Error {
    Error::not_found(format!("get {name}: no such volume"))
}

/// Writes `data` to `path` through a synced temporary file and a rename.
fn write_durable(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Volumes {
    /// Loads the volumes under `<data_root>/volumes`. Leftovers of interrupted creates and
    /// removals go; a volume directory without a record (made by hand, or by an older
    /// engine) is taken as a plain volume.
    pub fn open(data_root: &Path) -> anyhow::Result<Volumes> {
        let root = data_root.join("volumes");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        let mut inner = Inner::default();
        for entry in std::fs::read_dir(&root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            if name.starts_with('.') {
                if mounter::mounted_below(&dir).is_empty() {
                    let _ = std::fs::remove_dir_all(&dir);
                } else {
                    tracing::warn!(dir = %dir.display(), "leaving a half-removed volume that still has mounts");
                }
                continue;
            }
            if names::validate(&name).is_err() || !dir.join(DATA_DIR).is_dir() {
                tracing::warn!(dir = %dir.display(), "skipping a directory that is not a volume");
                continue;
            }
            let rec = match std::fs::read(dir.join(RECORD_FILE)) {
                Ok(b) => match serde_json::from_slice::<Record>(&b) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(volume = %name, "skipping a volume whose record cannot be read: {e}");
                        continue;
                    }
                },
                Err(_) => {
                    let created = entry
                        .metadata()
                        .and_then(|m| m.created().or_else(|_| m.modified()))
                        .map(DateTime::<Utc>::from)
                        .unwrap_or_else(|_| Utc::now());
                    let r = Record {
                        name: name.clone(),
                        driver: DRIVER.into(),
                        labels: None,
                        options: None,
                        created_at: created,
                    };
                    write_durable(&dir.join(RECORD_FILE), &serde_json::to_vec(&r)?)?;
                    r
                }
            };
            inner.volumes.insert(name, rec);
        }
        Ok(Volumes {
            root,
            inner: Mutex::new(inner),
            copy_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir_of(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The directory containers see (`Mountpoint`).
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    pub fn get(&self, name: &str) -> Result<Record> {
        self.lock()
            .volumes
            .get(name)
            .cloned()
            .ok_or_else(|| no_such(name))
    }

    pub fn list(&self) -> Vec<Record> {
        self.lock().volumes.values().cloned().collect()
    }

    /// Creates a volume, or returns the one of that name (`false`: it existed). With
    /// `strict` (the API's create), an existing volume must have the same driver options;
    /// `for_container` marks the volume used by a container being created, in the same
    /// step, so it cannot be removed in between.
    pub fn create(
        &self,
        v: NewVolume,
        strict: bool,
        for_container: Option<&str>,
    ) -> Result<(Record, bool)> {
        let driver = if v.driver.is_empty() {
            DRIVER
        } else {
            v.driver.as_str()
        };
        if driver != DRIVER {
            return Err(Error::not_found(format!(
                "error looking up volume plugin {driver}: plugin {driver:?} not found (this engine has the \"local\" driver only)"
            )));
        }
        let anonymous = v.name.is_empty();
        let name = if anonymous {
            names::anonymous()
        } else {
            v.name.clone()
        };
        names::validate(&name)?;
        let opts = v.options.clone().unwrap_or_default();
        options::validate(&opts).map_err(|e| e.context(format!("create {name}")))?;
        let mut inner = self.lock();
        if let Some(existing) = inner.volumes.get(&name).cloned() {
            let same = existing.options.clone().unwrap_or_default() == opts;
            if strict && !same {
                return Err(Error::conflict(format!(
                    "create {name}: a volume named {name} already exists with other options ({}); remove it first or ask for the same options",
                    describe(&existing.options)
                )));
            }
            if let Some(c) = for_container {
                inner
                    .pending
                    .entry(c.into())
                    .or_default()
                    .insert(name.clone());
            }
            return Ok((existing, false));
        }
        let mut labels = v.labels.clone();
        if anonymous {
            labels
                .get_or_insert_with(BTreeMap::new)
                .insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let rec = Record {
            name: name.clone(),
            driver: DRIVER.into(),
            labels,
            options: v.options.clone(),
            created_at: Utc::now(),
        };
        self.write_new(&rec)
            .map_err(|e| Error::internal(format!("create {name}: {e}")))?;
        inner.volumes.insert(name.clone(), rec.clone());
        if let Some(c) = for_container {
            inner.pending.entry(c.into()).or_default().insert(name);
        }
        Ok((rec, true))
    }

    /// Makes the volume's directories and record under a hidden name, then renames them
    /// into place: a crash leaves either nothing or the whole volume.
    fn write_new(&self, rec: &Record) -> std::io::Result<()> {
        let tmp = self
            .root
            .join(format!(".new-{}", &crate::util::new_id()[..16]));
        let build = || -> std::io::Result<()> {
            std::fs::DirBuilder::new().mode(0o701).create(&tmp)?;
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(tmp.join(DATA_DIR))?;
            write_durable(&tmp.join(RECORD_FILE), &serde_json::to_vec(rec)?)?;
            std::fs::rename(&tmp, self.dir_of(&rec.name))?;
            std::fs::File::open(&self.root)?.sync_all()
        };
        let r = build();
        if r.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        r
    }

    /// Forgets what a container being created holds (it is recorded now, or gone).
    pub fn clear_pending(&self, container: &str) {
        self.lock().pending.remove(container);
    }

    /// `users` plus the containers being created.
    fn with_pending(inner: &Inner, mut users: Users) -> Users {
        for (c, vols) in &inner.pending {
            for v in vols {
                users.entry(v.clone()).or_default().insert(c.clone());
            }
        }
        users
    }

    /// The users of every volume: `recorded` (from the containers' records) and the
    /// creates in progress.
    pub fn users(&self, recorded: Users) -> Users {
        Self::with_pending(&self.lock(), recorded)
    }

    /// Removes a volume nobody uses. `users` (evaluated under the volumes' lock, so no
    /// container can take the volume meanwhile) tells who uses which volume. A missing
    /// volume is an error unless `force`.
    /// Returns the removed volume; `None` when it did not exist and `force` was given.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        users: &dyn Fn() -> Users,
    ) -> Result<Option<Record>> {
        let rec = {
            let mut inner = self.lock();
            let Some(rec) = inner.volumes.get(name).cloned() else {
                return if force { Ok(None) } else { Err(no_such(name)) };
            };
            let all = Self::with_pending(&inner, users());
            if let Some(ids) = all.get(name).filter(|s| !s.is_empty()) {
                return Err(Error::conflict(format!(
                    "remove {name}: volume is in use - [{}]",
                    ids.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            let dir = self.dir_of(name);
            let data = self.mountpoint(name);
            if rec.mount_spec().is_some() && mounter::is_mounted(&data) {
                inner.mounted_by.remove(name);
                if let Err(e) = mounter::unmount(&data) {
                    return Err(Error::internal(format!(
                        "remove {name}: unmounting {}: {e}",
                        data.display()
                    )));
                }
            }
            // Never delete through a mount: that would delete what is mounted there.
            let left = mounter::mounted_below(&dir);
            if !left.is_empty() {
                return Err(Error::conflict(format!(
                    "remove {name}: {} is still mounted; unmount it and try again",
                    left[0].display()
                )));
            }
            let trash = self
                .root
                .join(format!(".rm-{}", &crate::util::new_id()[..16]));
            std::fs::rename(&dir, &trash)
                .map_err(|e| Error::internal(format!("remove {name}: {e}")))?;
            inner.volumes.remove(name);
            inner.mounted_by.remove(name);
            drop(inner);
            if let Err(e) = std::fs::remove_dir_all(&trash) {
                tracing::warn!(
                    volume = name,
                    "deleting the removed volume's files: {e} (retried at the next start)"
                );
            }
            rec
        };
        Ok(Some(rec))
    }

    /// Notes that `container`'s run holds its volumes; false if it already did.
    pub fn begin_run(&self, container: &str) -> bool {
        self.lock().runs.insert(container.to_string())
    }

    /// Notes that `container`'s run ended; false if no run held volumes.
    pub fn end_run(&self, container: &str) -> bool {
        self.lock().runs.remove(container)
    }

    /// Mounts a volume with mount options for `user` (the first user mounts it); a plain
    /// volume needs nothing.
    pub fn mount_for(&self, name: &str, user: &str) -> Result<()> {
        let mut inner = self.lock();
        let Some(rec) = inner.volumes.get(name).cloned() else {
            return Err(no_such(name));
        };
        let Some(spec) = rec.mount_spec() else {
            return Ok(());
        };
        let data = self.mountpoint(name);
        let users = inner.mounted_by.entry(name.to_string()).or_default();
        if users.is_empty() && !mounter::is_mounted(&data) {
            mounter::mount(&spec, &data).map_err(|e| {
                Error::internal(format!(
                    "error while mounting volume '{}': failed to mount local volume: mount {}:{}, type {}, options {:?}: {e}",
                    data.display(),
                    spec.device,
                    data.display(),
                    spec.fstype,
                    rec.options.as_ref().and_then(|o| o.get("o")).map(String::as_str).unwrap_or(""),
                ))
            })?;
        }
        users.insert(user.to_string());
        Ok(())
    }

    /// Drops `user`'s hold on a volume's mount; the last user's release unmounts it.
    pub fn unmount_for(&self, name: &str, user: &str) {
        let mut inner = self.lock();
        let Some(users) = inner.mounted_by.get_mut(name) else {
            return;
        };
        users.remove(user);
        if !users.is_empty() {
            return;
        }
        inner.mounted_by.remove(name);
        let data = self.mountpoint(name);
        if mounter::is_mounted(&data) {
            if let Err(e) = mounter::unmount(&data) {
                tracing::warn!(volume = name, "unmounting {}: {e}", data.display());
            }
        }
    }

    /// At start-up: the mounts of volumes with mount options match the containers still
    /// running (`running`): mounted for them, unmounted when nobody runs with them.
    pub fn restore_mounts(&self, running: &Users) {
        let recs: Vec<Record> = self
            .list()
            .into_iter()
            .filter(|r| r.mount_spec().is_some())
            .collect();
        for rec in recs {
            let data = self.mountpoint(&rec.name);
            let users = running.get(&rec.name).cloned().unwrap_or_default();
            if users.is_empty() {
                if mounter::is_mounted(&data) {
                    if let Err(e) = mounter::unmount(&data) {
                        tracing::warn!(volume = %rec.name, "unmounting an unused volume: {e}");
                    }
                }
                continue;
            }
            for u in &users {
                if let Err(e) = self.mount_for(&rec.name, u) {
                    tracing::warn!(volume = %rec.name, "mounting a volume of a running container: {e}");
                }
            }
        }
    }
}

/// Options as `k=v,k=v` for messages.
fn describe(o: &Option<BTreeMap<String, String>>) -> String {
    match o {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn opts(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn create_is_idempotent_persisted_and_removable() {
        let d = tempfile::tempdir().unwrap();
        let vols = Volumes::open(d.path()).unwrap();
        let new = NewVolume {
            name: "data".into(),
            labels: opts(&[("a", "b")]),
            ..Default::default()
        };
        let (r, created) = vols.create(new.clone(), true, None).unwrap();
        assert!(created && !r.is_anonymous());
        assert!(vols.mountpoint("data").is_dir());
        let (_, again) = vols.create(new.clone(), true, None).unwrap();
        assert!(!again, "the same name and options give the same volume");
        let other = NewVolume {
            options: opts(&[("type", "tmpfs"), ("device", "tmpfs")]),
            ..new
        };
        assert_eq!(
            vols.create(other, true, None).unwrap_err().kind,
            Kind::Conflict
        );
        let (anon, _) = vols
            .create(NewVolume::default(), false, Some("c1"))
            .unwrap();
        assert!(anon.is_anonymous() && anon.name.len() == 64);
        // Reopened: the same volumes, and no leftovers.
        let vols = Volumes::open(d.path()).unwrap();
        assert_eq!(vols.get("data").unwrap().labels, opts(&[("a", "b")]));
        assert_eq!(vols.list().len(), 2);
        // In use (here by a create in progress) until released.
        let none = || Users::new();
        let users = || {
            let mut u = Users::new();
            u.entry("data".into()).or_default().insert("c2".into());
            u
        };
        let e = vols.remove("data", false, &users).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (Kind::Conflict, "remove data: volume is in use - [c2]")
        );
        vols.remove("data", false, &none).unwrap();
        assert!(!vols.dir_of("data").exists());
        assert_eq!(
            vols.get("data").unwrap_err().message,
            "get data: no such volume"
        );
        assert_eq!(
            vols.remove("data", false, &none).unwrap_err().kind,
            Kind::NotFound
        );
        assert_eq!(vols.remove("data", true, &none).unwrap(), None);
        assert_eq!(
            std::fs::read_dir(d.path().join("volumes")).unwrap().count(),
            1
        );
    }

    #[test]
    fn bad_volumes_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        let vols = Volumes::open(d.path()).unwrap();
        for v in [
            NewVolume {
                name: "a/b".into(),
                ..Default::default()
            },
            NewVolume {
                name: "ok".into(),
                options: opts(&[("bogus", "1")]),
                ..Default::default()
            },
            NewVolume {
                name: "ok".into(),
                driver: "nfs-plugin".into(),
                ..Default::default()
            },
        ] {
            assert!(vols.create(v, true, None).is_err());
        }
        assert_eq!(
            std::fs::read_dir(d.path().join("volumes")).unwrap().count(),
            0
        );
    }

    #[test]
    fn tmpfs_volumes_are_mounted_while_used() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let vols = Volumes::open(d.path()).unwrap();
        let v = NewVolume {
            name: "tv".into(),
            options: opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]),
            ..Default::default()
        };
        vols.create(v, true, None).unwrap();
        let mp = vols.mountpoint("tv");
        vols.mount_for("tv", "a").unwrap();
        vols.mount_for("tv", "b").unwrap();
        assert!(mounter::is_mounted(&mp));
        vols.unmount_for("tv", "a");
        assert!(mounter::is_mounted(&mp), "still used by b");
        vols.unmount_for("tv", "b");
        assert!(!mounter::is_mounted(&mp));
        // A mount left from before a restart goes when nobody runs with it.
        vols.mount_for("tv", "a").unwrap();
        let reopened = Volumes::open(d.path()).unwrap();
        reopened.restore_mounts(&Users::new());
        assert!(!mounter::is_mounted(&mp));
        reopened.remove("tv", false, &Users::new).unwrap();
    }
}
