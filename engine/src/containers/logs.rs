//! `GET /containers/{id}/logs`: the container's log through shimd's Tasks.Logs, framed
//! like attach output (multiplexed without a tty, raw with one), optionally timestamped.

use std::sync::Arc;
use std::time::Duration;

use berth_api::stdcopy;
use berth_proto::v1;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// `None` for all lines.
    pub tail: Option<i64>,
    pub timestamps: bool,
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Go's RFC3339Nano with all nine digits, as docker's `--timestamps` prints.
fn timestamp_prefix(t: &prost_types::Timestamp) -> String {
    let dt = chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).unwrap_or_default();
    format!("{}.{:09}Z ", dt.format("%Y-%m-%dT%H:%M:%S"), t.nanos.max(0))
}

impl Engine {
    pub async fn container_logs(
        self: &Arc<Self>,
        c: &Arc<Container>,
        o: LogsOptions,
    ) -> Result<(bool, mpsc::Receiver<Bytes>)> {
        if !o.stdout && !o.stderr {
            return Err(Error::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        if c.with(|r| r.host_config.log_config.kind == "none") {
            return Err(Error::new(
                crate::error::Kind::NotImplemented,
                "configured logging driver does not support reading",
            ));
        }
        let tty = c.with(|r| r.config.tty);
        let follow = o.follow && c.with(|r| r.state.running || r.state.restarting);
        let mut notice = c.subscribe();
        let seen = notice.borrow().exits;
        let mut stream = self
            .shimd
            .tasks()
            .logs(v1::LogsRequest {
                container_id: c.id.clone(),
                follow,
                stdout: o.stdout,
                stderr: o.stderr,
                since: o.since.map(ts),
                until: o.until.map(ts),
                tail: o.tail,
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut exited = false;
            loop {
                let next = if exited {
                    // The container stopped: what is still in flight arrives promptly.
                    match tokio::time::timeout(Duration::from_millis(300), stream.message()).await {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                } else if follow {
                    tokio::select! {
                        m = stream.message() => m,
                        _ = notice.wait_for(|n| n.exits > seen || n.removed) => { exited = true; continue; }
                    }
                } else {
                    stream.message().await
                };
                let entry = match next {
                    Ok(Some(e)) => e,
                    _ => break,
                };
                let mut data = Vec::with_capacity(entry.data.len() + 32);
                if o.timestamps {
                    if let Some(t) = &entry.time {
                        data.extend_from_slice(timestamp_prefix(t).as_bytes());
                    }
                }
                data.extend_from_slice(&entry.data);
                let out = if tty {
                    data
                } else {
                    let s = if entry.stream == v1::LogStream::Stderr as i32 {
                        stdcopy::STDERR
                    } else {
                        stdcopy::STDOUT
                    };
                    stdcopy::frame(s, &data)
                };
                if tx.send(Bytes::from(out)).await.is_err() {
                    break;
                }
            }
        });
        Ok((tty, rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_nine_digits() {
        let t = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        };
        assert_eq!(timestamp_prefix(&t), "2023-11-14T22:13:20.000000005Z ");
    }
}
