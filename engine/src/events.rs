//! The engine's event stream (`GET /events`): what happened to containers and images, kept
//! in a ring for `since` and broadcast to listeners.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use berth_api::event::{Actor, Message};
use berth_api::filters::Filters;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

/// Events kept for `since`.
const HISTORY: usize = 1024;

pub struct Bus {
    history: Mutex<VecDeque<Message>>,
    tx: broadcast::Sender<Message>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Bus {
    /// Publishes an event of `kind` ("container", "image", ...) about `id`.
    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let from = if kind == "container" {
            attributes.get("image").cloned().unwrap_or_default()
        } else {
            String::new()
        };
        // The legacy fields (status, id, from) are set for containers and images only.
        let legacy = kind == "container" || kind == "image";
        let m = Message {
            status: if legacy {
                action.to_string()
            } else {
                String::new()
            },
            id: if legacy {
                id.to_string()
            } else {
                String::new()
            },
            from,
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        };
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(m.clone());
        }
        let _ = self.tx.send(m);
    }

    /// Past events from `since` on, and a receiver for what follows (no gap between them).
    pub fn subscribe(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> (Vec<Message>, broadcast::Receiver<Message>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since {
            Some(t) => {
                let t = t.timestamp_nanos_opt().unwrap_or(0);
                h.iter().filter(|m| m.time_nano >= t).cloned().collect()
            }
            None => Vec::new(),
        };
        (past, rx)
    }

    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// The filter keys `GET /events` accepts.
pub const FILTER_KEYS: &[&str] = &[
    "container",
    "event",
    "image",
    "label",
    "type",
    "daemon",
    "network",
    "volume",
    "plugin",
    "scope",
    "node",
    "service",
    "secret",
    "config",
];

/// Whether `m` passes `f` (each key must match one of its values).
pub fn matches(f: &Filters, m: &Message) -> bool {
    let attrs = &m.actor.attributes;
    let name = attrs.get("name").map(String::as_str).unwrap_or("");
    f.matches_exact("type", &m.kind)
        && (f.get("event").is_empty()
            || f.get("event").iter().any(|e| {
                // "exec_start" also matches "exec_start: sh" and "health_status" its detail.
                e == &m.action || m.action.starts_with(&format!("{e}:"))
            }))
        && f.matches_exact("scope", &m.scope)
        && (f.get("container").is_empty()
            || (m.kind == "container"
                && f.get("container")
                    .iter()
                    .any(|c| c == &m.actor.id || m.actor.id.starts_with(c.as_str()) || c == name)))
        && (f.get("image").is_empty()
            || f.get("image").iter().any(|i| {
                let img = attrs.get("image").map(String::as_str).unwrap_or("");
                (m.kind == "image" && (i == &m.actor.id || i == name))
                    || i == img
                    || img.split(':').next() == Some(i.as_str())
            }))
        && f.matches_labels("label", attrs)
        && (f.get("network").is_empty()
            || (m.kind == "network"
                && f.get("network")
                    .iter()
                    .any(|n| n == &m.actor.id || n == name)))
        && (f.get("volume").is_empty()
            || (m.kind == "volume" && f.get("volume").iter().any(|v| v == &m.actor.id)))
        && (f.get("daemon").is_empty() || m.kind == "daemon")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn history_and_live_events_have_no_gap() {
        let bus = Bus::default();
        let t0 = Utc::now();
        bus.publish(
            "container",
            "create",
            "abc",
            attrs(&[("name", "web"), ("image", "busybox")]),
        );
        let (past, mut rx) = bus.subscribe(Some(t0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].status, "create");
        assert_eq!(past[0].from, "busybox");
        bus.publish("container", "start", "abc", attrs(&[("name", "web")]));
        assert_eq!(rx.recv().await.unwrap().action, "start");
    }

    #[test]
    fn filters_match_like_docker() {
        let bus = Bus::default();
        bus.publish(
            "container",
            "exec_start: sh -c x",
            "abc123",
            attrs(&[("name", "web"), ("image", "busybox:latest"), ("l", "1")]),
        );
        let (past, _) = bus.subscribe(Some(DateTime::from_timestamp(0, 0).unwrap()));
        let m = &past[0];
        let f = |s: &str| Filters::parse(s).unwrap();
        assert!(matches(&f(r#"{"event":["exec_start"]}"#), m));
        assert!(matches(&f(r#"{"container":["web"]}"#), m));
        assert!(matches(&f(r#"{"container":["abc"]}"#), m));
        assert!(matches(&f(r#"{"image":["busybox"]}"#), m));
        assert!(matches(&f(r#"{"label":["l=1"]}"#), m));
        assert!(!matches(&f(r#"{"type":["image"]}"#), m));
        assert!(!matches(&f(r#"{"container":["db"]}"#), m));
        assert!(!matches(&f(r#"{"event":["die"]}"#), m));
    }
}
