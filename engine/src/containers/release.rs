//! Letting go of what shimd holds for a container: its task, its record and its writable
//! snapshot. One way to do it, for a removal, for a create that failed halfway and for
//! what an interrupted create left behind at start-up.

use berth_proto::v1;

use crate::error::{Error, Result};
use crate::shimd::Shimd;

/// Which of a container's shimd resources to let go of.
#[derive(Clone, Copy, Debug)]
pub struct Held {
    /// A task the engine knows is there (one it does not know of is found by the record's
    /// deletion and deleted too).
    pub task: bool,
    pub record: bool,
    pub snapshot: bool,
}

impl Held {
    pub const ALL: Held = Held {
        task: true,
        record: true,
        snapshot: true,
    };
}

/// Deletes what `held` names for container `id`; what is already gone counts as released.
pub async fn release(shimd: &Shimd, id: &str, held: Held) -> Result<()> {
    if held.task {
        delete_task(shimd, id).await?;
    }
    let record = async {
        if !held.record {
            return Ok(());
        }
        let delete = || async {
            shimd
                .containers()
                .delete(v1::DeleteContainerRequest { id: id.to_string() })
                .await
        };
        match delete().await {
            // A task the engine did not know of (an interrupted start): delete it first.
            Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                delete_task(shimd, id).await?;
                missing_ok(delete().await)
            }
            r => missing_ok(r),
        }
    };
    let remove_snapshot = || async {
        if !held.snapshot {
            return Ok(());
        }
        missing_ok(
            shimd
                .snapshots()
                .remove(v1::SnapshotKeyRequest {
                    key: id.to_string(),
                })
                .await,
        )
    };
    let (record, snapshot) = tokio::join!(record, remove_snapshot());
    record?;
    if snapshot.is_err() {
        // The snapshot may have been busy until the record went: once more.
        remove_snapshot().await?;
    }
    Ok(())
}

async fn delete_task(shimd: &Shimd, id: &str) -> Result<()> {
    missing_ok(
        shimd
            .tasks()
            .delete(v1::DeleteTaskRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
                force: true,
            })
            .await,
    )
}

fn missing_ok<T>(r: std::result::Result<tonic::Response<T>, tonic::Status>) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
        Err(s) => Err(Error::from(s)),
    }
}
