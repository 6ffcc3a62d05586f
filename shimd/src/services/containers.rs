//! berth.v1.Containers: container records (metadata only; a task makes one run).

use std::sync::Arc;

use berth_proto::v1::containers_server::{Containers, ContainersServer};
use berth_proto::v1::{
    Container, CreateContainerRequest, DeleteContainerRequest, GetContainerRequest,
    ListContainersRequest, ListContainersResponse, UpdateContainerRequest,
};
use tonic::{Request, Response, Status};

use crate::events::now;
use crate::filters::Filters;
use crate::metadata::{CONTAINERS, CONTAINER_LOGS};
use crate::namespace;
use crate::server::Core;
use crate::tasks::{bundle, logs, oci};

pub struct ContainersService {
    core: Arc<Core>,
}

pub fn server(core: Arc<Core>) -> ContainersServer<ContainersService> {
    ContainersServer::new(ContainersService { core })
}

/// Container ids are path components and runtime ids: `[A-Za-z0-9][A-Za-z0-9_.-]{0,75}`.
pub fn validate_id(id: &str) -> Result<(), Status> {
    let ok = !id.is_empty()
        && id.len() <= 76
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "invalid container id {id:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit (at most 76)"
        )))
    }
}

/// A container's spec, when it has one, must be an OCI runtime spec.
fn validate_spec(id: &str, spec: &[u8]) -> Result<(), Status> {
    if spec.is_empty() {
        return Ok(());
    }
    oci::spec(spec)
        .map(drop)
        .map_err(|e| Status::invalid_argument(format!("the OCI spec of container {id:?} {e}")))
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!("container {id:?} not found"))
}

fn field(c: &Container, name: &str) -> Option<String> {
    match name {
        "id" => Some(c.id.clone()),
        "image" => Some(c.image.clone()),
        "runtime" | "runtime.name" => c.runtime.as_ref().map(|r| r.binary.clone()),
        "snapshot_key" => Some(c.snapshot_key.clone()),
        _ => name
            .strip_prefix("labels.")
            .and_then(|k| c.labels.get(k).cloned()),
    }
}

#[tonic::async_trait]
impl Containers for ContainersService {
    async fn create(
        &self,
        req: Request<CreateContainerRequest>,
    ) -> Result<Response<Container>, Status> {
        let ns = namespace::of(&req)?;
        let mut c = req
            .into_inner()
            .container
            .ok_or_else(|| Status::invalid_argument("create needs a container"))?;
        validate_id(&c.id)?;
        validate_spec(&c.id, &c.spec)?;
        let t = now();
        c.created_at = Some(t);
        c.updated_at = Some(t);
        self.core
            .db
            .write(|tx| tx.insert_new(CONTAINERS, &ns, &c.id, &c, "container"))?;
        self.core.events.publish(
            &ns,
            "/containers/create",
            [
                ("id", c.id.clone()),
                ("image", c.image.clone()),
                (
                    "runtime",
                    c.runtime
                        .as_ref()
                        .map(|r| r.binary.clone())
                        .unwrap_or_default(),
                ),
            ],
        );
        Ok(Response::new(c))
    }

    async fn get(&self, req: Request<GetContainerRequest>) -> Result<Response<Container>, Status> {
        let ns = namespace::of(&req)?;
        let id = req.into_inner().id;
        let c: Container = self
            .core
            .db
            .get(CONTAINERS, &ns, &id)?
            .ok_or_else(|| not_found(&id))?;
        Ok(Response::new(c))
    }

    async fn list(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        let ns = namespace::of(&req)?;
        let filters = Filters::parse(&req.get_ref().filters)?;
        let containers = self
            .core
            .db
            .list::<Container>(CONTAINERS, &ns)?
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| filters.matches(|f| field(c, f)))
            .collect();
        Ok(Response::new(ListContainersResponse { containers }))
    }

    async fn update(
        &self,
        req: Request<UpdateContainerRequest>,
    ) -> Result<Response<Container>, Status> {
        let ns = namespace::of(&req)?;
        let UpdateContainerRequest {
            container,
            update_mask,
        } = req.into_inner();
        let new = container.ok_or_else(|| Status::invalid_argument("update needs a container"))?;
        validate_spec(&new.id, &new.spec)?;
        let updated = self.core.db.write(|tx| {
            let mut c: Container = tx
                .get(CONTAINERS, &ns, &new.id)?
                .ok_or_else(|| not_found(&new.id))?;
            apply_update(&mut c, &new, &update_mask)?;
            c.updated_at = Some(now());
            tx.put(CONTAINERS, &ns, &c.id, &c)?;
            Ok(c)
        })?;
        self.core.events.publish(
            &ns,
            "/containers/update",
            [("id", updated.id.clone()), ("image", updated.image.clone())],
        );
        Ok(Response::new(updated))
    }

    async fn delete(&self, req: Request<DeleteContainerRequest>) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let id = req.into_inner().id;
        if self.core.tasks.exists(&ns, &id) {
            return Err(Status::failed_precondition(format!(
                "container {id:?} has a task: delete the task first"
            )));
        }
        let log: Option<logs::LogRecord> = self.core.db.write(|tx| {
            if !tx.delete(CONTAINERS, &ns, &id)? {
                return Err(not_found(&id));
            }
            let log = tx.get(CONTAINER_LOGS, &ns, &id)?;
            tx.delete(CONTAINER_LOGS, &ns, &id)?;
            Ok(log)
        })?;
        if let Some(l) = log.filter(|l| l.owned) {
            logs::remove_log_files(std::path::Path::new(&l.path));
        }
        // The task directory (now at most logs) goes with the container.
        let dir = bundle::task_dir(&self.core.config.state, &ns, &id);
        let _ = bundle::clear_task_dir(&dir);
        self.core
            .events
            .publish(&ns, "/containers/delete", [("id", id)]);
        Ok(Response::new(()))
    }
}

/// Applies the fields named in `mask` (all when empty) from `new` to `c`.
fn apply_update(c: &mut Container, new: &Container, mask: &[String]) -> Result<(), Status> {
    let all = [
        "labels",
        "spec",
        "image",
        "runtime",
        "snapshot_key",
        "extensions",
        "user",
        "init",
    ];
    let fields: Vec<String> = if mask.is_empty() {
        all.iter().map(|s| s.to_string()).collect()
    } else {
        mask.to_vec()
    };
    for f in &fields {
        match f.as_str() {
            "labels" => c.labels = new.labels.clone(),
            "spec" => c.spec = new.spec.clone(),
            "image" => c.image = new.image.clone(),
            "runtime" => c.runtime = new.runtime.clone(),
            "snapshot_key" => c.snapshot_key = new.snapshot_key.clone(),
            "extensions" => c.extensions = new.extensions.clone(),
            "user" => c.user = new.user.clone(),
            "init" => c.init = new.init,
            other => match other.strip_prefix("labels.") {
                Some(k) if !k.is_empty() => match new.labels.get(k) {
                    Some(v) => {
                        c.labels.insert(k.to_string(), v.clone());
                    }
                    None => {
                        c.labels.remove(k);
                    }
                },
                _ => {
                    return Err(Status::invalid_argument(format!(
                        "cannot update field {other:?}: use {}, or labels.<name>",
                        all.join(", ")
                    )))
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("web-1.a_b").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("-x").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id(&"a".repeat(77)).is_err());
    }

    #[test]
    fn updates_follow_the_mask() {
        let mut c = Container {
            id: "c".into(),
            image: "old".into(),
            labels: [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let new = Container {
            id: "c".into(),
            image: "new".into(),
            labels: [("a".to_string(), "9".to_string())].into(),
            ..Default::default()
        };
        apply_update(&mut c, &new, &["labels.b".into()]).unwrap();
        assert_eq!(c.image, "old");
        assert_eq!(c.labels.get("b"), None);
        assert_eq!(c.labels.get("a").map(String::as_str), Some("1"));
        apply_update(&mut c, &new, &["image".into()]).unwrap();
        assert_eq!(c.image, "new");
        assert!(apply_update(&mut c, &new, &["id".into()]).is_err());
    }
}
