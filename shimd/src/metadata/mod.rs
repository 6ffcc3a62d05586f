//! The metadata database: one redb file (`<root>/meta.redb`) of transactional tables, each
//! holding prost-encoded records keyed by namespace and name. A crash at any point leaves
//! either the old or the new state (redb commits are atomic and durable).

use std::path::Path;

use prost::Message;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tonic::Status;

/// A table of namespaced records. Keys are stored as `namespace \0 name`.
#[derive(Clone, Copy)]
pub struct Table(TableDefinition<'static, &'static str, &'static [u8]>);

/// berth.v1.Image by name.
pub const IMAGES: Table = Table(TableDefinition::new("images"));
/// berth.v1.Container by id.
pub const CONTAINERS: Table = Table(TableDefinition::new("containers"));
/// berth.v1.ContentInfo by digest: a namespace's reference to (and labels on) a blob.
pub const CONTENT: Table = Table(TableDefinition::new("content"));
/// The snapshotter's records (berth.v1.SnapshotInfo plus the snapshot's directory id) by key.
pub const SNAPSHOTS: Table = Table(TableDefinition::new("snapshots"));
/// berth.v1.Lease by id.
pub const LEASES: Table = Table(TableDefinition::new("leases"));
/// berth.v1.LeaseResource by `lease_id \0 type \0 id`.
pub const LEASE_RESOURCES: Table = Table(TableDefinition::new("lease_resources"));
/// Where each container's log lives (tasks::logs::LogRecord) by container id.
pub const CONTAINER_LOGS: Table = Table(TableDefinition::new("container_logs"));
/// berth.v1.Namespace by name.
pub const NAMESPACES: Table = Table(TableDefinition::new("namespaces"));

/// Every table, for namespace-wide questions ("is this namespace empty?").
pub const ALL_TABLES: &[Table] = &[
    IMAGES,
    CONTAINERS,
    CONTENT,
    SNAPSHOTS,
    LEASES,
    LEASE_RESOURCES,
    CONTAINER_LOGS,
];

/// Cheap to clone: clones share one database.
#[derive(Clone)]
pub struct Db {
    db: std::sync::Arc<redb::Database>,
}

fn key(ns: &str, name: &str) -> String {
    format!("{ns}\0{name}")
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("metadata database: {e}"))
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, Status> {
    M::decode(bytes).map_err(|e| internal(format!("corrupt record: {e}")))
}

impl Db {
    /// Opens (or creates) the database and makes sure every table exists.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        let db = redb::Database::create(path)
            .map_err(|e| anyhow::anyhow!("opening metadata database {}: {e}", path.display()))?;
        let txn = db.begin_write()?;
        for t in ALL_TABLES.iter().chain([&NAMESPACES]) {
            txn.open_table(t.0)?;
        }
        txn.commit()?;
        Ok(Db {
            db: std::sync::Arc::new(db),
        })
    }

    pub fn get<M: Message + Default>(
        &self,
        t: Table,
        ns: &str,
        name: &str,
    ) -> Result<Option<M>, Status> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(t.0).map_err(internal)?;
        let v = table.get(key(ns, name).as_str()).map_err(internal)?;
        v.map(|g| decode(g.value())).transpose()
    }

    /// Every record of a namespace, in name order.
    pub fn list<M: Message + Default>(
        &self,
        t: Table,
        ns: &str,
    ) -> Result<Vec<(String, M)>, Status> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(t.0).map_err(internal)?;
        list_in(&table, ns)
    }

    /// Every record of every namespace, as `(namespace, name, record)`.
    pub fn list_all<M: Message + Default>(
        &self,
        t: Table,
    ) -> Result<Vec<(String, String, M)>, Status> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(t.0).map_err(internal)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(internal)? {
            let (k, v) = item.map_err(internal)?;
            let (ns, name) = k.value().split_once('\0').unwrap_or(("", k.value()));
            out.push((ns.to_string(), name.to_string(), decode(v.value())?));
        }
        Ok(out)
    }

    /// Runs `f` in one write transaction, committed only if it returns Ok.
    pub fn write<R>(&self, f: impl FnOnce(&mut Txn) -> Result<R, Status>) -> Result<R, Status> {
        let txn = self.db.begin_write().map_err(internal)?;
        let mut t = Txn { txn };
        let r = f(&mut t)?;
        t.txn.commit().map_err(internal)?;
        Ok(r)
    }

    pub fn put<M: Message>(&self, t: Table, ns: &str, name: &str, m: &M) -> Result<(), Status> {
        self.write(|tx| tx.put(t, ns, name, m))
    }

    /// Removes a record; Ok(false) when there was none.
    pub fn delete(&self, t: Table, ns: &str, name: &str) -> Result<bool, Status> {
        self.write(|tx| tx.delete(t, ns, name))
    }

    /// The namespaces that hold any record, plus those created explicitly.
    pub fn namespaces(&self) -> Result<Vec<String>, Status> {
        let txn = self.db.begin_read().map_err(internal)?;
        let mut set = std::collections::BTreeSet::new();
        for t in ALL_TABLES.iter().chain([&NAMESPACES]) {
            let table = txn.open_table(t.0).map_err(internal)?;
            for item in table.iter().map_err(internal)? {
                let (k, _) = item.map_err(internal)?;
                if let Some((ns, _)) = k.value().split_once('\0') {
                    set.insert(ns.to_string());
                }
            }
        }
        Ok(set.into_iter().collect())
    }
}

/// One write transaction.
pub struct Txn {
    txn: redb::WriteTransaction,
}

impl Txn {
    pub fn get<M: Message + Default>(
        &self,
        t: Table,
        ns: &str,
        name: &str,
    ) -> Result<Option<M>, Status> {
        let table = self.txn.open_table(t.0).map_err(internal)?;
        let v = table.get(key(ns, name).as_str()).map_err(internal)?;
        v.map(|g| decode(g.value())).transpose()
    }

    pub fn list<M: Message + Default>(
        &self,
        t: Table,
        ns: &str,
    ) -> Result<Vec<(String, M)>, Status> {
        let table = self.txn.open_table(t.0).map_err(internal)?;
        list_in(&table, ns)
    }

    pub fn put<M: Message>(&mut self, t: Table, ns: &str, name: &str, m: &M) -> Result<(), Status> {
        let mut table = self.txn.open_table(t.0).map_err(internal)?;
        table
            .insert(key(ns, name).as_str(), m.encode_to_vec().as_slice())
            .map_err(internal)?;
        Ok(())
    }

    /// Inserts a record that must not exist yet (`already_exists` otherwise).
    pub fn insert_new<M: Message>(
        &mut self,
        t: Table,
        ns: &str,
        name: &str,
        m: &M,
        what: &str,
    ) -> Result<(), Status> {
        let mut table = self.txn.open_table(t.0).map_err(internal)?;
        let k = key(ns, name);
        if table.get(k.as_str()).map_err(internal)?.is_some() {
            return Err(Status::already_exists(format!(
                "{what} {name:?} already exists"
            )));
        }
        table
            .insert(k.as_str(), m.encode_to_vec().as_slice())
            .map_err(internal)?;
        Ok(())
    }

    pub fn delete(&mut self, t: Table, ns: &str, name: &str) -> Result<bool, Status> {
        let mut table = self.txn.open_table(t.0).map_err(internal)?;
        let removed = table.remove(key(ns, name).as_str()).map_err(internal)?;
        Ok(removed.is_some())
    }
}

fn list_in<M: Message + Default>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    ns: &str,
) -> Result<Vec<(String, M)>, Status> {
    let (lo, hi) = (format!("{ns}\0"), format!("{ns}\u{1}"));
    let mut out = Vec::new();
    for item in table.range(lo.as_str()..hi.as_str()).map_err(internal)? {
        let (k, v) = item.map_err(internal)?;
        let name = &k.value()[lo.len()..];
        out.push((name.to_string(), decode(v.value())?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_proto::v1::Image;

    #[test]
    fn records_are_namespaced_and_transactional() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("meta.redb")).unwrap();
        let img = |n: &str| Image {
            name: n.into(),
            ..Default::default()
        };
        db.put(IMAGES, "a", "x", &img("x")).unwrap();
        db.put(IMAGES, "b", "y", &img("y")).unwrap();
        let a: Vec<(String, Image)> = db.list(IMAGES, "a").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].0, "x");
        // A failing transaction leaves nothing behind.
        let r: Result<(), Status> = db.write(|tx| {
            tx.put(IMAGES, "a", "z", &img("z"))?;
            Err(Status::aborted("no"))
        });
        assert!(r.is_err());
        assert!(db.get::<Image>(IMAGES, "a", "z").unwrap().is_none());
        assert_eq!(db.namespaces().unwrap(), vec!["a", "b"]);
        let dup = db.write(|tx| tx.insert_new(IMAGES, "a", "x", &img("x"), "image"));
        assert_eq!(dup.unwrap_err().code(), tonic::Code::AlreadyExists);
    }
}
