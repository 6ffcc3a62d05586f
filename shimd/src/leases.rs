//! Leases: records that keep content and snapshots from garbage collection while a client
//! (or a pull, an import, an unpack) works with them. A lease with an expiry stops
//! protecting anything after it; the collector removes expired leases.

use berth_proto::v1::{Lease, LeaseResource};
use tonic::Status;

use crate::events::now;
use crate::metadata::{Db, LEASES, LEASE_RESOURCES};

pub const CONTENT: &str = "content";
/// Marks the leases of shimd's own operations (pull, import, unpack, ...), whose value
/// names the operation. They die with the process that made them.
pub const OPERATION_LABEL: &str = "berth.io/operation";
pub const SNAPSHOTS: &str = "snapshots";

fn resource_key(lease: &str, kind: &str, id: &str) -> String {
    format!("{lease}\0{kind}\0{id}")
}

pub fn random_id(prefix: &str) -> String {
    use rand::Rng;
    format!("{prefix}{:016x}", rand::rng().random::<u64>())
}

pub fn create(
    db: &Db,
    ns: &str,
    id: &str,
    labels: std::collections::HashMap<String, String>,
    expire_seconds: i64,
) -> Result<Lease, Status> {
    if id.is_empty() || id.len() > 256 || id.contains('\0') {
        return Err(Status::invalid_argument(format!("invalid lease id {id:?}")));
    }
    let t = now();
    let lease = Lease {
        id: id.to_string(),
        created_at: Some(t),
        labels,
        expires_at: (expire_seconds > 0).then(|| prost_types::Timestamp {
            seconds: t.seconds + expire_seconds,
            nanos: t.nanos,
        }),
    };
    db.write(|tx| tx.insert_new(LEASES, ns, id, &lease, "lease"))?;
    Ok(lease)
}

pub fn get(db: &Db, ns: &str, id: &str) -> Result<Lease, Status> {
    db.get(LEASES, ns, id)?
        .ok_or_else(|| Status::not_found(format!("lease {id:?} not found")))
}

/// Removes a lease and its resource list.
pub fn delete(db: &Db, ns: &str, id: &str) -> Result<(), Status> {
    db.write(|tx| {
        if !tx.delete(LEASES, ns, id)? {
            return Err(Status::not_found(format!("lease {id:?} not found")));
        }
        let prefix = format!("{id}\0");
        let res: Vec<(String, LeaseResource)> = tx.list(LEASE_RESOURCES, ns)?;
        for (k, _) in res.iter().filter(|(k, _)| k.starts_with(&prefix)) {
            tx.delete(LEASE_RESOURCES, ns, k)?;
        }
        Ok(())
    })
}

pub fn add_resource(db: &Db, ns: &str, lease: &str, kind: &str, id: &str) -> Result<(), Status> {
    check_kind(kind)?;
    db.write(|tx| {
        if tx.get::<Lease>(LEASES, ns, lease)?.is_none() {
            return Err(Status::not_found(format!("lease {lease:?} not found")));
        }
        tx.put(
            LEASE_RESOURCES,
            ns,
            &resource_key(lease, kind, id),
            &LeaseResource {
                id: id.to_string(),
                r#type: kind.to_string(),
            },
        )
    })
}

pub fn delete_resource(db: &Db, ns: &str, lease: &str, kind: &str, id: &str) -> Result<(), Status> {
    check_kind(kind)?;
    db.delete(LEASE_RESOURCES, ns, &resource_key(lease, kind, id))?;
    Ok(())
}

pub fn resources(db: &Db, ns: &str, lease: &str) -> Result<Vec<LeaseResource>, Status> {
    let prefix = format!("{lease}\0");
    Ok(db
        .list::<LeaseResource>(LEASE_RESOURCES, ns)?
        .into_iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, r)| r)
        .collect())
}

/// The lease a call names in its `berth-lease` metadata (checked to exist in `ns`), to
/// which the content it writes is added.
pub fn of_request<T>(db: &Db, ns: &str, req: &tonic::Request<T>) -> Result<Option<String>, Status> {
    let Some(v) = req.metadata().get(berth_proto::LEASE_HEADER) else {
        return Ok(None);
    };
    let id = v
        .to_str()
        .map_err(|_| Status::invalid_argument("the lease header is not valid text"))?;
    get(db, ns, id)?;
    Ok(Some(id.to_string()))
}

pub fn is_expired(l: &Lease) -> bool {
    let t = now();
    l.expires_at
        .as_ref()
        .is_some_and(|e| (e.seconds, e.nanos) <= (t.seconds, t.nanos))
}

fn check_kind(kind: &str) -> Result<(), Status> {
    if kind == CONTENT || kind == SNAPSHOTS {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "invalid lease resource type {kind:?}: use \"content\" or \"snapshots\""
        )))
    }
}

/// A lease held by one operation, dropped when the operation ends (kept after a crash
/// until it expires).
pub struct OpLease {
    db: Db,
    ns: String,
    pub id: String,
}

impl OpLease {
    pub fn new(db: &Db, ns: &str, what: &str) -> Result<OpLease, Status> {
        let id = random_id(&format!("{what}-"));
        let labels = [(OPERATION_LABEL.to_string(), what.to_string())].into();
        create(db, ns, &id, labels, 3600)?;
        Ok(OpLease {
            db: db.clone(),
            ns: ns.to_string(),
            id,
        })
    }

    pub fn add(&self, kind: &str, id: &str) -> Result<(), Status> {
        add_resource(&self.db, &self.ns, &self.id, kind, id)
    }

    /// A handle that adds to this lease from another thread (it does not keep the lease).
    pub fn adder(&self) -> LeaseAdder {
        LeaseAdder {
            db: self.db.clone(),
            ns: self.ns.clone(),
            id: self.id.clone(),
        }
    }
}

/// See `OpLease::adder`.
#[derive(Clone)]
pub struct LeaseAdder {
    db: Db,
    ns: String,
    id: String,
}

impl LeaseAdder {
    pub fn add(&self, kind: &str, id: &str) -> Result<(), Status> {
        add_resource(&self.db, &self.ns, &self.id, kind, id)
    }
}

impl Drop for OpLease {
    fn drop(&mut self) {
        let _ = delete(&self.db, &self.ns, &self.id);
    }
}

/// Drops the leases of operations a previous shimd process was doing when it died (none of
/// them can still be running), so what they protected can be collected.
pub fn drop_dead_operation_leases(db: &Db) -> Result<usize, Status> {
    let all: Vec<(String, String, Lease)> = db.list_all(LEASES)?;
    let mut n = 0;
    for (ns, id, l) in all {
        if l.labels.contains_key(OPERATION_LABEL) {
            tracing::info!(namespace = %ns, lease = %id, "dropping the lease of an interrupted operation");
            delete(db, &ns, &id)?;
            n += 1;
        }
    }
    Ok(n)
}
