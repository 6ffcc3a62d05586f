//! Diagnostics in runc's log format, so containerd and dockerd can show our errors:
//! `--log FILE --log-format json` writes `{"level":"error","msg":"...","time":"..."}` lines,
//! `text` writes logrus-style `time="..." level=error msg="..."` lines. Without `--log`,
//! warnings go to stderr. Errors always also go to stderr as `berth-runtime: error: <message>`.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
/// Set once the log file's descriptor may be closed (a container process closing what it
/// inherited): its number could then name another file.
static FILE_GONE: AtomicBool = AtomicBool::new(false);

/// Sets up logging from the global flags. Failing to open the log file is an error.
pub fn init(path: Option<&str>, format: &str, debug: bool) -> Result<(), String> {
    let json = match format {
        "json" => true,
        "text" | "" => false,
        other => {
            return Err(format!(
                "--log-format: unknown format {other:?} (text or json)"
            ))
        }
    };
    let file = match path {
        Some(p) if !p.is_empty() => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("--log {p}: cannot open: {e}"))?,
        ),
        _ => None,
    };
    let _ = LOGGER.set(Logger { file, json, debug });
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else {
        if level != "debug" {
            eprintln!("berth-runtime: {level}: {msg}");
        }
        return;
    };
    if level == "debug" && !l.debug {
        return;
    }
    match &l.file {
        Some(_) if FILE_GONE.load(Ordering::Relaxed) => {}
        Some(f) => {
            let mut f: &File = f;
            let line = if l.json {
                let v = serde_json::json!({"level": level, "msg": msg, "time": now()});
                format!("{v}\n")
            } else {
                format!("time={:?} level={level} msg={msg:?}\n", now())
            };
            let _ = f.write_all(line.as_bytes());
        }
        None if level != "error" => eprintln!("berth-runtime: {level}: {msg}"),
        None => {}
    }
}

/// Stops writing to the log file before its descriptor is closed.
pub fn forget_file() {
    FILE_GONE.store(true, Ordering::Relaxed);
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    write("debug", msg);
}
