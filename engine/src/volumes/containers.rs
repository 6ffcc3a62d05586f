//! What containers do with volumes. At create, the container's mounts are resolved (volumes
//! looked up or made, held for the container, new empty ones filled from the image); at
//! start, volumes with mount options are mounted; when the run ends they are released; when
//! the container goes, `rm -v` and `--rm` remove its anonymous volumes.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::container::{Config, HostConfig};
use berth_api::mount::MountPoint;
use berth_proto::v1;

use super::{NewVolume, Users, DRIVER};
use crate::engine::Engine;
use crate::error::{Error, Kind, Result};
use crate::spec::mounts::{self, ContainerMount, Kind as MountKind, Requested};

/// A container's resolved mounts, and what its create made and must fill.
#[derive(Debug, Default)]
pub struct Resolved {
    pub mounts: Vec<ContainerMount>,
    /// Destinations of volumes to fill from the image when they are empty.
    pub copy: Vec<String>,
    /// Volumes this create made (removed again if the create fails).
    pub created: Vec<String>,
}

/// Options of a volume mount: bound recursively, private, read-only if asked.
fn volume_options(rw: bool) -> Vec<String> {
    let mut o = vec!["rbind".to_string(), "rprivate".to_string()];
    if !rw {
        o.push("ro".into());
    }
    o
}

/// Parents before children, so a mount inside another mount's destination lands on it.
fn sort_for_mounting(m: &mut [ContainerMount]) {
    m.sort_by(|a, b| {
        let depth = |x: &ContainerMount| x.point.destination.matches('/').count();
        depth(a)
            .cmp(&depth(b))
            .then_with(|| a.point.destination.cmp(&b.point.destination))
    });
}

impl Engine {
    /// Who uses which volume, from the containers' records.
    pub fn recorded_volume_users(&self) -> Users {
        let mut users = Users::new();
        for c in self.containers.list() {
            c.with(|r| {
                for v in r.mounts.iter().filter_map(ContainerMount::volume) {
                    users.entry(v.to_string()).or_default().insert(r.id.clone());
                }
            });
        }
        users
    }

    /// Who uses which volume, creates in progress included.
    pub fn volume_users(&self) -> Users {
        self.volumes.users(self.recorded_volume_users())
    }

    pub fn volume_event(&self, action: &str, name: &str, attrs: &[(&str, String)]) {
        let mut a: BTreeMap<String, String> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        a.entry("driver".into()).or_insert_with(|| DRIVER.into());
        self.events.publish("volume", action, name, a);
    }

    /// Looks up or makes the volume of a volume mount, held for container `id`.
    fn volume_for(&self, id: &str, r: &Requested, res: &mut Resolved) -> Result<ContainerMount> {
        let (rec, created) = self.volumes.create(
            NewVolume {
                name: r.source.clone(),
                driver: r.volume_driver.clone(),
                options: r.volume_options.clone(),
                labels: r.volume_labels.clone(),
            },
            false,
            Some(id),
        )?;
        if created {
            res.created.push(rec.name.clone());
            self.volume_event("create", &rec.name, &[]);
        }
        if r.copy_data {
            res.copy.push(r.destination.clone());
        }
        Ok(ContainerMount {
            point: MountPoint {
                kind: "volume".into(),
                name: rec.name.clone(),
                source: self.volumes.mountpoint(&rec.name).display().to_string(),
                destination: r.destination.clone(),
                driver: DRIVER.into(),
                mode: r.mode.clone(),
                rw: r.rw,
                propagation: String::new(),
            },
            options: volume_options(r.rw),
            anonymous: rec.is_anonymous() && r.source.is_empty(),
            create_source: false,
            listed: true,
        })
    }

    /// The mounts of `--volumes-from` entries: every listed mount of each container, read
    /// only when either side says so.
    fn volumes_from(&self, id: &str, hc: &HostConfig) -> Result<Vec<ContainerMount>> {
        let mut out = Vec::new();
        for spec in hc.volumes_from.iter().flatten() {
            let (reference, rw) = mounts::parse_volumes_from(spec)?;
            // A missing container is the request's fault: dockerd answers 400.
            let src = self
                .containers
                .get(&reference)
                .map_err(|e| Error::invalid(e.message))?;
            for m in src
                .with(|r| r.mounts.clone())
                .into_iter()
                .filter(|m| m.listed)
            {
                let mut m = m;
                m.point.rw = m.point.rw && rw;
                m.point.mode.clear();
                m.options.retain(|o| o != "ro" && o != "rw");
                if !m.point.rw {
                    m.options.push("ro".into());
                }
                m.create_source = false;
                if let Some(v) = m.volume() {
                    // Held like any other volume of this container.
                    let held = NewVolume {
                        name: v.to_string(),
                        ..Default::default()
                    };
                    self.volumes
                        .create(held, false, Some(id))
                        .map_err(|e| e.context(format!("--volumes-from {reference}")))?;
                }
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The container's mounts, in dockerd's order of precedence: those of `--volumes-from`,
    /// replaced by `Binds`, `Mounts` and `Tmpfs` on the same destination, then an anonymous
    /// volume for each `Config.Volumes` destination nothing else covers. The volumes are
    /// held for container `id` until its record is written ([`Self::volumes_created`]) or
    /// the create fails ([`Self::volumes_create_failed`]).
    pub fn resolve_mounts(
        &self,
        id: &str,
        config: &Config,
        hc: &HostConfig,
        res: &mut Resolved,
    ) -> Result<()> {
        let requested = mounts::parse(hc)?;
        let mut by_dest: BTreeMap<String, ContainerMount> = self
            .volumes_from(id, hc)?
            .into_iter()
            .map(|m| (m.point.destination.clone(), m))
            .collect();
        for r in &requested {
            let m = match r.kind {
                MountKind::Volume => {
                    let mut r = r.clone();
                    if r.mode.is_empty() {
                        r.mode = "z".into();
                    }
                    if r.volume_driver.is_empty() {
                        r.volume_driver = hc.volume_driver.clone();
                    }
                    self.volume_for(id, &r, res)?
                }
                _ => ContainerMount::from_requested(r),
            };
            by_dest.insert(m.point.destination.clone(), m);
        }
        for dest in config.volumes.iter().flat_map(|v| v.keys()) {
            let mut r = mounts::parse_config_volume(dest)?;
            if by_dest.contains_key(&r.destination) {
                continue;
            }
            r.volume_driver = hc.volume_driver.clone();
            let m = self.volume_for(id, &r, res)?;
            by_dest.insert(m.point.destination.clone(), m);
        }
        res.mounts = by_dest.into_values().collect();
        sort_for_mounting(&mut res.mounts);
        Ok(())
    }

    /// The container's record holds its volumes now.
    pub fn volumes_created(&self, id: &str) {
        self.volumes.clear_pending(id);
    }

    /// Undoes the volume part of a failed create: its holds go, the volumes it made too.
    pub fn volumes_create_failed(&self, id: &str, created: &[String]) {
        self.volumes.clear_pending(id);
        for name in created {
            match self
                .volumes
                .remove(name, true, &|| self.recorded_volume_users())
            {
                Ok(Some(_)) => self.volume_event("destroy", name, &[]),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(volume = %name, "removing a volume of a failed create: {e}")
                }
            }
        }
    }

    /// Fills new empty volumes with what the image has at their destinations. The
    /// container's snapshot (`snapshot`, as shimd describes it) is mounted privately for
    /// it, only when some volume is empty.
    pub async fn copy_up(
        self: &Arc<Self>,
        id: &str,
        res: &Resolved,
        snapshot: &[v1::Mount],
    ) -> Result<()> {
        let targets: Vec<(String, String)> = res
            .mounts
            .iter()
            .filter(|m| res.copy.contains(&m.point.destination))
            .filter_map(|m| Some((m.volume()?.to_string(), m.point.destination.clone())))
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let _one_at_a_time = self.volumes.copy_lock.lock().await;
        let holder = format!("copy-up:{id}");
        let mut mounted = Vec::new();
        let mut todo = Vec::new();
        for (name, dest) in targets {
            if self.volumes.mount_for(&name, &holder).is_ok() {
                mounted.push(name.clone());
            }
            let dir = self.volumes.mountpoint(&name);
            let empty = std::fs::read_dir(&dir)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if empty {
                todo.push((dir, dest));
            }
        }
        let result = if todo.is_empty() {
            Ok(())
        } else {
            let scratch = self.settings.exec_root.join("mnt");
            let snapshot = snapshot.to_vec();
            tokio::task::spawn_blocking(move || -> Result<()> {
                let root = crate::rootfs::mount_all(&snapshot, &scratch)?;
                for (dir, dest) in todo {
                    super::copyup::copy_into_empty(root.path(), &dest, &dir).map_err(|e| {
                        Error::internal(format!(
                            "copying the image's {dest} into its new volume: {e}"
                        ))
                    })?;
                }
                Ok(())
            })
            .await
            .unwrap_or_else(|e| Err(Error::internal(format!("copy-up: {e}"))))
        };
        for name in mounted {
            self.volumes.unmount_for(&name, &holder);
        }
        result
    }

    /// Before a start: missing `-v` host directories are made and volumes with mount
    /// options mounted, with a `mount` event per volume.
    pub fn volumes_before_start(&self, id: &str, mounts_of: &[ContainerMount]) -> Result<()> {
        mounts::create_bind_sources(mounts_of)?;
        let mut done: Vec<&str> = Vec::new();
        for m in mounts_of {
            let Some(name) = m.volume() else { continue };
            if let Err(e) = self.volumes.mount_for(name, id) {
                for d in done {
                    self.volumes.unmount_for(d, id);
                }
                return Err(e);
            }
            done.push(name);
        }
        if self.volumes.begin_run(id) {
            for m in mounts_of {
                if let Some(name) = m.volume() {
                    self.volume_event(
                        "mount",
                        name,
                        &[
                            ("container", id.to_string()),
                            ("destination", m.point.destination.clone()),
                            ("propagation", m.point.propagation.clone()),
                            ("read/write", m.point.rw.to_string()),
                        ],
                    );
                }
            }
        }
        Ok(())
    }

    /// After a run (its exit, a failed start, the container's removal): the volumes it
    /// mounted are released, with an `unmount` event per volume (once per run).
    pub fn volumes_after_run(&self, id: &str, mounts_of: &[ContainerMount]) {
        let ended = self.volumes.end_run(id);
        for m in mounts_of {
            let Some(name) = m.volume() else { continue };
            self.volumes.unmount_for(name, id);
            if ended {
                self.volume_event("unmount", name, &[("container", id.to_string())]);
            }
        }
    }

    /// After a container is gone: with `remove_anonymous` (`rm -v`, `--rm`) its anonymous
    /// volumes go too, except those another container still uses.
    pub fn volumes_after_remove(
        &self,
        id: &str,
        mounts_of: &[ContainerMount],
        remove_anonymous: bool,
    ) {
        self.volumes_after_run(id, mounts_of);
        if !remove_anonymous {
            return;
        }
        for m in mounts_of.iter().filter(|m| m.anonymous) {
            let Some(name) = m.volume() else { continue };
            // Deleting a volume's files may take a while: not on an async worker's time.
            let removed = tokio::task::block_in_place(|| {
                self.volumes
                    .remove(name, true, &|| self.recorded_volume_users())
            });
            match removed {
                Ok(Some(_)) => self.volume_event("destroy", name, &[]),
                Ok(None) => {}
                Err(e) if e.kind == Kind::Conflict => {}
                Err(e) => {
                    tracing::warn!(volume = %name, container = %id, "removing an anonymous volume: {e}")
                }
            }
        }
    }

    /// At start-up, before the containers are reconciled: the running containers hold
    /// their volumes (mounted again where needed); mounts nobody runs with go.
    pub fn reconcile_volumes(&self) {
        let mut running = Users::new();
        for c in self.containers.list() {
            c.with(|r| {
                if !r.state.running {
                    return;
                }
                self.volumes.begin_run(&r.id);
                for v in r.mounts.iter().filter_map(ContainerMount::volume) {
                    running
                        .entry(v.to_string())
                        .or_default()
                        .insert(r.id.clone());
                }
            });
        }
        self.volumes.restore_mounts(&running);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_mount_before_children() {
        let m = |d: &str| ContainerMount {
            point: MountPoint {
                destination: d.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut v = vec![m("/data/sub/x"), m("/b"), m("/data"), m("/a/b")];
        sort_for_mounting(&mut v);
        let d: Vec<&str> = v.iter().map(|x| x.point.destination.as_str()).collect();
        assert_eq!(d, ["/b", "/data", "/a/b", "/data/sub/x"]);
    }
}
