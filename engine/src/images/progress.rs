//! shimd's pull and push progress, rewritten as the JSON-lines docker clients print.

use std::collections::HashMap;

use berth_api::progress::Message;
use berth_proto::v1;

use crate::util::short_id;

fn is_layer(media_type: &str) -> bool {
    media_type.contains("layer") || media_type.contains("rootfs")
}

/// Turns pull progress into docker's lines: one status per layer state change, and
/// download/extract progress bars.
#[derive(Default)]
pub struct PullTranslator {
    last: HashMap<String, String>,
    /// True once any layer had to be downloaded (for "Downloaded newer image").
    pub downloaded: bool,
}

impl PullTranslator {
    pub fn blob(&mut self, b: &v1::BlobProgress) -> Option<Message> {
        if !is_layer(&b.media_type) {
            return None;
        }
        let id = short_id(&b.digest).to_string();
        let (status, with_bar) = match b.state.as_str() {
            "waiting" => ("Pulling fs layer", false),
            "downloading" => ("Downloading", true),
            "verifying" => ("Verifying Checksum", false),
            "extracting" => ("Extracting", true),
            "done" => ("Pull complete", false),
            "exists" => ("Already exists", false),
            _ => return None,
        };
        if matches!(b.state.as_str(), "downloading" | "verifying") {
            self.downloaded = true;
        }
        let prev = self.last.insert(id.clone(), status.to_string());
        if with_bar {
            return Some(Message::progress(status, &id, b.current, b.total));
        }
        if prev.as_deref() == Some(status) {
            return None;
        }
        let mut m = Message::status(status, &id);
        m.progress_detail = Some(Default::default());
        Some(m)
    }
}

/// Turns push progress into docker's lines. Layers are named as dockerd names them
/// there: by their diff ID (the digest of the uncompressed layer) when it is known.
#[derive(Default)]
pub struct PushTranslator {
    last: HashMap<String, String>,
    /// Blob digest to diff ID.
    diff_ids: HashMap<String, String>,
}

impl PushTranslator {
    /// A translator naming the layers with these (blob digest, diff ID) pairs.
    pub fn with_diff_ids(pairs: impl IntoIterator<Item = (String, String)>) -> PushTranslator {
        PushTranslator {
            diff_ids: pairs.into_iter().collect(),
            ..Default::default()
        }
    }

    pub fn blob(&mut self, b: &v1::BlobProgress) -> Option<Message> {
        if !is_layer(&b.media_type) {
            return None;
        }
        let named = self.diff_ids.get(&b.digest).unwrap_or(&b.digest);
        let id = short_id(named).to_string();
        let mounted;
        let status = match b.state.as_str() {
            "waiting" => "Waiting",
            "preparing" => "Preparing",
            "pushing" => "Pushing",
            "exists" => "Layer already exists",
            "mounted" => {
                mounted = format!("Mounted from {}", b.from);
                mounted.as_str()
            }
            "done" => "Pushed",
            _ => return None,
        };
        let prev = self.last.insert(id.clone(), status.to_string());
        if status == "Pushing" {
            return Some(Message::progress(status, &id, b.current, b.total));
        }
        if prev.as_deref() == Some(status) {
            return None;
        }
        let mut m = Message::status(status, &id);
        m.progress_detail = Some(Default::default());
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(state: &str, cur: i64) -> v1::BlobProgress {
        v1::BlobProgress {
            digest: format!("sha256:{}", "ab".repeat(32)),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            state: state.into(),
            current: cur,
            total: 100,
            ..Default::default()
        }
    }

    #[test]
    fn pull_lines_follow_docker() {
        let mut t = PullTranslator::default();
        let m = t.blob(&blob("waiting", 0)).unwrap();
        assert_eq!(m.status.as_deref(), Some("Pulling fs layer"));
        assert_eq!(m.id.as_deref(), Some("abababababab"));
        assert!(t.blob(&blob("waiting", 0)).is_none());
        let m = t.blob(&blob("downloading", 50)).unwrap();
        assert_eq!(m.progress_detail.unwrap().current, 50);
        assert_eq!(
            t.blob(&blob("done", 100)).unwrap().status.as_deref(),
            Some("Pull complete")
        );
        assert!(t.downloaded);
        let mut cfg = blob("done", 1);
        cfg.media_type = "application/vnd.oci.image.config.v1+json".into();
        assert!(t.blob(&cfg).is_none());
    }
}
