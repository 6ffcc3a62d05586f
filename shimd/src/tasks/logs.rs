//! Reading a container's log as the shim writes it (JSON lines, docker json-file style),
//! across rotated files, with since/until/tail/stream filters, optionally following new
//! output (and rotations) until the container stops.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_proto::v1::{LogEntry, LogStream};

/// Where a container's log lives, recorded per container so it can be read after its task
/// is deleted. `owned`: the file is in shimd's state (removed with the container); a
/// client-chosen path is never removed by shimd.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(bool, tag = "3")]
    pub owned: bool,
}

/// How often a follower looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix ns; entries before are skipped.
    pub since: Option<i64>,
    /// Unix ns; entries after end the stream.
    pub until: Option<i64>,
    pub tail: Option<i64>,
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub time_ns: i64,
    pub stream: LogStream,
    pub data: Vec<u8>,
}

impl Entry {
    pub fn to_proto(&self) -> LogEntry {
        LogEntry {
            time: Some(prost_types::Timestamp {
                seconds: self.time_ns.div_euclid(1_000_000_000),
                nanos: self.time_ns.rem_euclid(1_000_000_000) as i32,
            }),
            stream: self.stream as i32,
            data: self.data.clone(),
        }
    }
}

#[derive(serde::Deserialize)]
struct Line {
    log: String,
    #[serde(default)]
    stream: String,
    time: String,
}

/// Parses one JSON line; None for a line that is not a log entry.
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    let l: Line = serde_json::from_slice(line).ok()?;
    let time = chrono::DateTime::parse_from_rfc3339(&l.time).ok()?;
    Some(Entry {
        time_ns: time.timestamp_nanos_opt()?,
        stream: if l.stream == "stderr" {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        },
        data: l.log.into_bytes(),
    })
}

/// The rotated files (oldest first) then the current one.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let numbered = |i: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    };
    let mut n = 0;
    while numbered(n + 1).exists() {
        n += 1;
    }
    let mut files: Vec<PathBuf> = (1..=n).rev().map(numbered).collect();
    files.push(path.to_path_buf());
    files
}

/// Removes a log file and its rotated siblings.
pub fn remove_log_files(path: &Path) {
    for f in log_files(path) {
        let _ = std::fs::remove_file(f);
    }
}

/// Reads whole lines from a file as they are appended; a last line without its newline
/// waits for the rest.
struct LineReader {
    file: File,
    ino: u64,
    partial: Vec<u8>,
}

impl LineReader {
    fn open(path: &Path) -> Option<LineReader> {
        let file = File::open(path).ok()?;
        let ino = file.metadata().ok()?.ino();
        Some(LineReader {
            file,
            ino,
            partial: Vec::new(),
        })
    }

    /// Every complete line appended since the last call.
    fn read_lines(&mut self, mut each: impl FnMut(&[u8]) -> bool) -> bool {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(n) => n,
            };
            let mut data = &buf[..n];
            while let Some(i) = data.iter().position(|&b| b == b'\n') {
                let go_on = if self.partial.is_empty() {
                    each(&data[..i])
                } else {
                    self.partial.extend_from_slice(&data[..i]);
                    let line = std::mem::take(&mut self.partial);
                    each(&line)
                };
                if !go_on {
                    return false;
                }
                data = &data[i + 1..];
            }
            self.partial.extend_from_slice(data);
        }
    }

    /// Has the path been rotated away from the file we hold?
    fn rotated(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.ino() != self.ino)
    }
}

enum Verdict {
    Send(Entry),
    Skip,
    Stop,
}

fn judge(line: &[u8], q: &Query) -> Verdict {
    let Some(e) = parse_line(line) else {
        return Verdict::Skip;
    };
    let (out, err) = if !q.stdout && !q.stderr {
        (true, true)
    } else {
        (q.stdout, q.stderr)
    };
    let wanted = match e.stream {
        LogStream::Stdout => out,
        LogStream::Stderr => err,
    };
    if q.until.is_some_and(|u| e.time_ns > u) {
        return Verdict::Stop;
    }
    if !wanted || q.since.is_some_and(|s| e.time_ns < s) {
        return Verdict::Skip;
    }
    Verdict::Send(e)
}

/// Filters lines and holds back the last `tail` entries until the history is read.
struct Collector<'a> {
    q: &'a Query,
    tail: Option<VecDeque<Entry>>,
    limit: usize,
    stopped: bool,
}

impl Collector<'_> {
    /// Handles one line; false when reading should stop.
    fn take(&mut self, line: &[u8], send: &mut dyn FnMut(Entry) -> bool) -> bool {
        match judge(line, self.q) {
            Verdict::Skip => true,
            Verdict::Stop => {
                self.stopped = true;
                false
            }
            Verdict::Send(e) => match self.tail.as_mut() {
                Some(t) => {
                    if self.limit > 0 {
                        if t.len() == self.limit {
                            t.pop_front();
                        }
                        t.push_back(e);
                    }
                    true
                }
                None => send(e),
            },
        }
    }
}

/// Streams the log at `path` into `send` (which returns false when the reader is gone).
/// With `follow`, keeps reading new output until `running()` turns false. Blocking: run it
/// on a blocking thread.
pub fn read(
    path: &Path,
    q: &Query,
    running: &dyn Fn() -> bool,
    send: &mut dyn FnMut(Entry) -> bool,
) {
    let mut c = Collector {
        q,
        tail: q
            .tail
            .map(|n| VecDeque::with_capacity(n.clamp(0, 4096) as usize)),
        limit: q.tail.unwrap_or(0).max(0) as usize,
        stopped: false,
    };
    let files = log_files(path);
    let mut go_on = true;
    for f in &files[..files.len() - 1] {
        if let Some(mut r) = LineReader::open(f) {
            if !r.read_lines(|l| c.take(l, send)) {
                go_on = false;
                break;
            }
        }
    }
    let mut current = LineReader::open(path);
    if go_on {
        if let Some(r) = current.as_mut() {
            go_on = r.read_lines(|l| c.take(l, send));
        }
    }
    if let Some(t) = c.tail.take() {
        for e in t {
            if !send(e) {
                return;
            }
        }
    }
    if !go_on || c.stopped || !q.follow {
        return;
    }
    follow(path, q, current, running, send);
}

fn follow(
    path: &Path,
    q: &Query,
    mut current: Option<LineReader>,
    running: &dyn Fn() -> bool,
    send: &mut dyn FnMut(Entry) -> bool,
) {
    let mut each = |l: &[u8]| match judge(l, q) {
        Verdict::Skip => true,
        Verdict::Stop => false,
        Verdict::Send(e) => send(e),
    };
    loop {
        // Read before asking whether the container still runs: the shim writes all of a
        // process's output before its exit becomes known, so a final read after "stopped"
        // sees everything.
        let alive = running();
        match current.as_mut() {
            Some(r) => {
                if !r.read_lines(&mut each) {
                    return;
                }
                if r.rotated(path) {
                    current = LineReader::open(path);
                    continue;
                }
            }
            None => current = LineReader::open(path),
        }
        if !alive {
            return;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(t: &str, stream: &str, log: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": log, "stream": stream, "time": t})
        )
    }

    fn collect(path: &Path, q: &Query) -> Vec<String> {
        let mut out = Vec::new();
        read(path, q, &|| false, &mut |e| {
            out.push(String::from_utf8(e.data).unwrap());
            true
        });
        out
    }

    #[test]
    fn reads_rotated_files_in_order_with_filters() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.json");
        std::fs::write(
            d.path().join("log.json.2"),
            line("2024-01-01T00:00:01Z", "stdout", "a\n"),
        )
        .unwrap();
        std::fs::write(
            d.path().join("log.json.1"),
            line("2024-01-01T00:00:02Z", "stderr", "b\n"),
        )
        .unwrap();
        std::fs::write(
            &p,
            line("2024-01-01T00:00:03.5Z", "stdout", "c\n") + "garbage\n",
        )
        .unwrap();
        let all = Query::default();
        assert_eq!(collect(&p, &all), vec!["a\n", "b\n", "c\n"]);
        let out_only = Query {
            stdout: true,
            ..Default::default()
        };
        assert_eq!(collect(&p, &out_only), vec!["a\n", "c\n"]);
        let t2 = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:02Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        let since = Query {
            since: Some(t2),
            ..Default::default()
        };
        assert_eq!(collect(&p, &since), vec!["b\n", "c\n"]);
        let until = Query {
            until: Some(t2),
            ..Default::default()
        };
        assert_eq!(collect(&p, &until), vec!["a\n", "b\n"]);
        let tail = Query {
            tail: Some(2),
            ..Default::default()
        };
        assert_eq!(collect(&p, &tail), vec!["b\n", "c\n"]);
        let none = Query {
            tail: Some(0),
            ..Default::default()
        };
        assert!(collect(&p, &none).is_empty());
    }

    #[test]
    fn follows_appends_and_rotation_until_stopped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.json");
        std::fs::write(&p, line("2024-01-01T00:00:01Z", "stdout", "1\n")).unwrap();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (r2, p2) = (running.clone(), p.clone());
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            let mut f = File::options().append(true).open(&p2).unwrap();
            f.write_all(line("2024-01-01T00:00:02Z", "stdout", "2\n").as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_millis(150));
            std::fs::rename(&p2, p2.with_extension("json.1")).unwrap();
            std::fs::write(&p2, line("2024-01-01T00:00:03Z", "stdout", "3\n")).unwrap();
            std::thread::sleep(Duration::from_millis(250));
            r2.store(false, std::sync::atomic::Ordering::SeqCst);
        });
        let q = Query {
            follow: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        read(
            &p,
            &q,
            &|| running.load(std::sync::atomic::Ordering::SeqCst),
            &mut |e| {
                out.push(String::from_utf8(e.data).unwrap());
                true
            },
        );
        writer.join().unwrap();
        assert_eq!(out, vec!["1\n", "2\n", "3\n"]);
    }
}
