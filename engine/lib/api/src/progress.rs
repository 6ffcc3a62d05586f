//! JSON-lines progress of pull, push, load and the like: one `Message` per line.

use berth_gocompat::units::human_size;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Detail {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub total: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "is_zero")]
    pub code: i64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<Detail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl Message {
    /// `{"status": status, "id": id}` (no id when empty).
    pub fn status(status: impl Into<String>, id: &str) -> Message {
        Message {
            status: Some(status.into()),
            id: (!id.is_empty()).then(|| id.to_string()),
            ..Default::default()
        }
    }

    /// `{"stream": text}`, the form `docker load` prints.
    pub fn stream(text: impl Into<String>) -> Message {
        Message {
            stream: Some(text.into()),
            ..Default::default()
        }
    }

    /// An error line; clients stop at it and print the message.
    pub fn error(message: impl Into<String>) -> Message {
        let m = message.into();
        Message {
            error_detail: Some(ErrorDetail {
                code: 0,
                message: m.clone(),
            }),
            error: Some(m),
            ..Default::default()
        }
    }

    /// A progress line for one blob, with docker's text bar.
    pub fn progress(status: &str, id: &str, current: i64, total: i64) -> Message {
        Message {
            status: Some(status.to_string()),
            progress_detail: Some(Detail { current, total }),
            progress: Some(progress_bar(current, total)),
            id: Some(id.to_string()),
            ..Default::default()
        }
    }

    /// The line as sent: JSON plus "\r\n", as dockerd terminates stream lines.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.extend_from_slice(b"\r\n");
        v
    }
}

/// docker's progress text: "[=====>     ]  1.2MB/3.4MB".
pub fn progress_bar(current: i64, total: i64) -> String {
    if total <= 0 {
        return human_size(current as f64);
    }
    const WIDTH: i64 = 50;
    let filled = (current.clamp(0, total) * WIDTH / total) as usize;
    let mut bar = "=".repeat(filled);
    if filled < WIDTH as usize {
        bar.push('>');
        bar.push_str(&" ".repeat(WIDTH as usize - filled - 1));
    }
    format!(
        "[{bar}] {:>8}/{}",
        human_size(current as f64),
        human_size(total as f64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars_look_like_dockers() {
        assert_eq!(progress_bar(1234, 0), "1.234kB");
        let bar = progress_bar(50, 100);
        assert!(bar.starts_with("[=========================>"), "{bar}");
        assert!(bar.ends_with("50B/100B"), "{bar}");
    }

    #[test]
    fn lines_end_in_crlf_and_skip_empty_fields() {
        let l = Message::status("Pulling fs layer", "abc").to_line();
        assert_eq!(l, b"{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\r\n");
        let e = String::from_utf8(Message::error("boom").to_line()).unwrap();
        assert!(e.contains("\"errorDetail\":{\"message\":\"boom\"}"), "{e}");
    }
}
