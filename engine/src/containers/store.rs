//! The containers the engine knows: by id, by name and by id prefix; each persisted as
//! `<data-root>/containers/<id>/container.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::sync::watch;

use super::model::Record;
use crate::error::{Error, Result};
use crate::util::write_atomic;

const RECORD_FILE: &str = "container.json";

/// What waiters watch: exits and removal.
#[derive(Debug, Clone, Default)]
pub struct ExitNotice {
    /// Number of exits recorded since the engine loaded the container.
    pub exits: u64,
    pub exit_code: i64,
    pub error: String,
    pub removed: bool,
}

/// One container: its record behind a lock, an operation lock that serializes lifecycle
/// changes, and a watch channel for waiters.
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    /// Held by start, stop, kill, restart, pause, remove: one lifecycle change at a time.
    pub op: tokio::sync::Mutex<()>,
    record: Mutex<Record>,
    notice: watch::Sender<ExitNotice>,
    /// Wakes a pending restart (policy delay) so stop and remove can cancel it.
    pub restart_cancel: tokio::sync::Notify,
    /// Attach requests waiting for the next start.
    pub pending_attach: Mutex<Vec<super::attach::Pending>>,
    /// The restart policy's current delay (doubles on each restart, see monitor).
    pub restart_backoff: Mutex<std::time::Duration>,
    /// Held while a run's task and network are released after its exit; a start or a
    /// removal waits for it.
    pub teardown: Arc<tokio::sync::Mutex<()>>,
    /// shimd holds a task for the container (created and not yet deleted).
    pub task_alive: std::sync::atomic::AtomicBool,
    /// The container's network is attached (prepared and not yet released).
    pub net_attached: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container").field("id", &self.id).finish()
    }
}

impl Container {
    fn new(dir: PathBuf, record: Record) -> Container {
        let running = record.state.running;
        let notice = ExitNotice {
            exit_code: record.state.exit_code,
            ..Default::default()
        };
        Container {
            id: record.id.clone(),
            dir,
            op: tokio::sync::Mutex::new(()),
            record: Mutex::new(record),
            notice: watch::Sender::new(notice),
            restart_cancel: tokio::sync::Notify::new(),
            pending_attach: Mutex::new(Vec::new()),
            restart_backoff: Mutex::new(std::time::Duration::ZERO),
            teardown: Arc::new(tokio::sync::Mutex::new(())),
            // A container recorded as running may have both (reconcile finds out).
            task_alive: std::sync::atomic::AtomicBool::new(running),
            net_attached: std::sync::atomic::AtomicBool::new(running),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the record.
    pub fn record(&self) -> Record {
        self.lock().clone()
    }

    /// Reads part of the record.
    pub fn with<R>(&self, f: impl FnOnce(&Record) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the record and writes it to disk before the lock is released, so the file
    /// always holds the latest state.
    pub fn update<R>(&self, f: impl FnOnce(&mut Record) -> R) -> Result<R> {
        self.try_update(|r| Ok::<_, Error>(f(r)))
    }

    /// [`Self::update`] with a change that may be refused (a state transition, see
    /// `model::RunState`); its error is returned. The record is written either way, so
    /// memory and disk never differ.
    pub fn try_update<R, E: Into<Error>>(
        &self,
        f: impl FnOnce(&mut Record) -> std::result::Result<R, E>,
    ) -> Result<R> {
        let mut g = self.lock();
        let r = f(&mut g);
        let data = serde_json::to_vec(&*g).map_err(|e| Error::internal(e.to_string()))?;
        write_atomic(&self.dir.join(RECORD_FILE), &data).map_err(|e| {
            Error::internal(format!("saving the state of container {}: {e}", self.id))
        })?;
        r.map_err(Into::into)
    }

    pub fn subscribe(&self) -> watch::Receiver<ExitNotice> {
        self.notice.subscribe()
    }

    /// Tells waiters the current run ended with `code`.
    pub fn notify_exit(&self, code: i64, error: String) {
        self.notice.send_modify(|n| {
            n.exits += 1;
            n.exit_code = code;
            n.error = error;
        });
    }

    pub fn notify_removed(&self) {
        let code = self.with(|r| r.state.exit_code);
        self.notice.send_modify(|n| {
            n.removed = true;
            n.exit_code = code;
        });
    }
}

#[derive(Default)]
struct Index {
    by_id: HashMap<String, Arc<Container>>,
    /// Name (without "/") to id, including names reserved by creates in progress.
    names: HashMap<String, String>,
}

pub struct Store {
    root: PathBuf,
    index: RwLock<Index>,
}

impl Store {
    /// Loads every container under `root` (`<data-root>/containers`). Records that cannot be
    /// read are reported and skipped, not deleted.
    pub fn load(root: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(root)?;
        let store = Store {
            root: root.to_path_buf(),
            index: RwLock::new(Index::default()),
        };
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let dir = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                // A removed container whose files were still being deleted.
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            let file = dir.join(RECORD_FILE);
            let rec: Record = match std::fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "skipping a container whose record cannot be read: {e}");
                    continue;
                }
            };
            let mut idx = store.write();
            idx.names
                .insert(rec.short_name().to_string(), rec.id.clone());
            idx.by_id
                .insert(rec.id.clone(), Arc::new(Container::new(dir, rec)));
        }
        Ok(store)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Container directories that never got a record: creates interrupted before their
    /// record was written (a directory whose record exists but cannot be read is not one).
    pub fn unrecorded_dirs(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let idx = self.read();
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|id| !id.starts_with('.') && !idx.by_id.contains_key(id))
            .filter(|id| !self.root.join(id).join(RECORD_FILE).exists())
            .collect()
    }

    /// Reserves `name` for container `id`; the conflict names the holder.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let mut idx = self.write();
        if let Some(holder) = idx.names.get(name) {
            if holder != id {
                return Err(Error::conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \
                     \"{holder}\". You have to remove (or rename) that container to be able to \
                     reuse that name."
                )));
            }
        }
        idx.names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    /// Frees `name` if `id` holds it.
    pub fn release_name(&self, name: &str, id: &str) {
        let mut idx = self.write();
        if idx.names.get(name).map(|h| h == id).unwrap_or(false) {
            idx.names.remove(name);
        }
    }

    #[cfg(test)]
    pub fn name_taken(&self, name: &str) -> bool {
        self.read().names.contains_key(name)
    }

    /// Saves a new container's record and makes it visible.
    pub fn insert(&self, rec: Record) -> Result<Arc<Container>> {
        let dir = self.dir_of(&rec.id);
        let c = Arc::new(Container::new(dir, rec));
        c.update(|_| ())?;
        self.write().by_id.insert(c.id.clone(), c.clone());
        Ok(c)
    }

    /// Where a removed container's directory goes until it is deleted: out of sight of
    /// `load`, so a crash in between does not bring the container back.
    pub fn trash_of(&self, id: &str) -> PathBuf {
        self.root.join(format!(".{id}.removed"))
    }

    /// Forgets a container (its files are the caller's to remove).
    pub fn remove(&self, c: &Container) {
        let name = c.with(|r| r.short_name().to_string());
        let mut idx = self.write();
        idx.by_id.remove(&c.id);
        if idx.names.get(&name) == Some(&c.id) {
            idx.names.remove(&name);
        }
    }

    /// Moves a container to a new name (already validated).
    pub fn rename(&self, c: &Container, new: &str) -> Result<()> {
        let old = c.with(|r| r.short_name().to_string());
        self.reserve_name(new, &c.id)?;
        if let Err(e) = c.update(|r| r.name = format!("/{new}")) {
            self.release_name(new, &c.id);
            return Err(e);
        }
        self.release_name(&old, &c.id);
        Ok(())
    }

    /// Finds a container by full id, name (with or without "/") or unique id prefix.
    pub fn get(&self, reference: &str) -> Result<Arc<Container>> {
        let idx = self.read();
        if reference.is_empty() {
            return Err(Error::no_such_container(reference));
        }
        if let Some(c) = idx.by_id.get(reference) {
            return Ok(c.clone());
        }
        let name = reference.strip_prefix('/').unwrap_or(reference);
        if let Some(c) = idx.names.get(name).and_then(|id| idx.by_id.get(id)) {
            return Ok(c.clone());
        }
        let mut found = idx.by_id.iter().filter(|(id, _)| id.starts_with(reference));
        match (found.next(), found.next()) {
            (Some((_, c)), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {reference}"
            ))),
            _ => Err(Error::no_such_container(reference)),
        }
    }

    /// The container with exactly this id.
    pub fn by_id(&self, id: &str) -> Option<Arc<Container>> {
        self.read().by_id.get(id).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Container>> {
        self.read().by_id.values().cloned().collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> Record {
        Record {
            id: id.into(),
            name: format!("/{name}"),
            ..Default::default()
        }
    }

    #[test]
    fn resolves_ids_names_and_prefixes() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::load(d.path()).unwrap();
        for (id, name) in [("abc111", "web"), ("abd222", "db")] {
            std::fs::create_dir_all(s.dir_of(id)).unwrap();
            s.reserve_name(name, id).unwrap();
            s.insert(rec(id, name)).unwrap();
        }
        assert_eq!(s.get("abc111").unwrap().id, "abc111");
        assert_eq!(s.get("/db").unwrap().id, "abd222");
        assert_eq!(s.get("db").unwrap().id, "abd222");
        assert_eq!(s.get("abc").unwrap().id, "abc111");
        assert_eq!(
            s.get("ab").unwrap_err().kind,
            crate::error::Kind::InvalidParameter
        );
        assert_eq!(s.get("zz").unwrap_err().message, "No such container: zz");
        let e = s.reserve_name("web", "other").unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Conflict);
        assert!(e.message.contains("abc111"));

        // Reloading from disk finds the same containers and names.
        let s2 = Store::load(d.path()).unwrap();
        assert_eq!(s2.len(), 2);
        assert_eq!(s2.get("web").unwrap().id, "abc111");
        let c = s2.get("web").unwrap();
        s2.rename(&c, "site").unwrap();
        assert!(s2.get("web").is_err());
        assert_eq!(s2.get("site").unwrap().id, "abc111");
        s2.remove(&c);
        assert!(!s2.name_taken("site"));
    }
}
