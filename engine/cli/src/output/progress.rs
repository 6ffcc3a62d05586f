//! Shows the daemon's JSON progress messages (pull, push, load): one bar per layer on a
//! terminal, plain status lines otherwise, like docker.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use berth_api::progress::Message;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::client::ApiError;
use crate::error::CliError;

/// Where progress goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Stderr,
}

enum Mode {
    Bars {
        target: Target,
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
    },
    Lines(Target),
    Quiet,
}

pub struct Progress {
    mode: Mode,
}

impl Progress {
    pub fn new(target: Target, quiet: bool) -> Progress {
        let tty = match target {
            Target::Stdout => std::io::stdout().is_terminal(),
            Target::Stderr => std::io::stderr().is_terminal(),
        };
        let mode = if quiet {
            Mode::Quiet
        } else if tty {
            Mode::Bars {
                target,
                multi: multi_for(target),
                bars: HashMap::new(),
            }
        } else {
            Mode::Lines(target)
        };
        Progress { mode }
    }

    /// Follows a message stream to its end. An error message in the stream fails the whole
    /// operation with the daemon's text.
    pub fn follow(
        &mut self,
        msgs: impl Iterator<Item = Result<Value, ApiError>>,
    ) -> Result<(), CliError> {
        let result = (|| {
            for m in msgs {
                self.show(&m?)?;
            }
            Ok(())
        })();
        self.finish();
        result
    }

    fn show(&mut self, raw: &Value) -> Result<(), CliError> {
        let m: Message = serde_json::from_value(raw.clone())
            .map_err(|e| CliError::new(format!("unreadable progress from the daemon: {e}")))?;
        if let Some(err) = &m.error {
            let detail = m
                .error_detail
                .as_ref()
                .map(|d| d.message.as_str())
                .unwrap_or(err);
            return Err(CliError::new(detail.to_string()));
        }
        if let Some(text) = &m.stream {
            self.line(text.trim_end_matches('\n'));
            return Ok(());
        }
        let Some(status) = m.status.as_deref() else {
            return Ok(());
        };
        let id = m.id.as_deref().unwrap_or("");
        let detail = m.progress_detail.clone().unwrap_or_default();
        let has_progress =
            detail.current > 0 || m.progress.as_deref().is_some_and(|p| !p.is_empty());
        match &mut self.mode {
            Mode::Quiet => {}
            Mode::Lines(_) => {
                if has_progress {
                    return Ok(());
                }
                let text = if id.is_empty() {
                    status.to_string()
                } else {
                    format!("{id}: {status}")
                };
                self.line(&text);
            }
            Mode::Bars { multi, bars, .. } => {
                if id.is_empty() {
                    self.line(status);
                    return Ok(());
                }
                let bar = bars.entry(id.to_string()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(0));
                    b.set_style(text_style());
                    b.set_prefix(id.to_string());
                    b
                });
                if detail.total > 0 {
                    let total = detail.total as u64;
                    if bar.length() != Some(total) {
                        bar.set_style(bar_style());
                        bar.set_length(total);
                    }
                    bar.set_position((detail.current.max(0) as u64).min(total));
                } else {
                    bar.set_style(text_style());
                }
                bar.set_message(status.to_string());
            }
        }
        Ok(())
    }

    fn line(&mut self, text: &str) {
        match &mut self.mode {
            Mode::Quiet => {}
            Mode::Bars {
                target,
                multi,
                bars,
            } => {
                // Like docker: the layer lines stay where they are and later lines go below
                // them, so the bars drawn so far are settled first.
                if !bars.is_empty() {
                    for b in bars.values() {
                        b.finish();
                    }
                    bars.clear();
                    *multi = multi_for(*target);
                }
                write_line(*target, text);
            }
            Mode::Lines(target) => write_line(*target, text),
        }
    }

    fn finish(&mut self) {
        if let Mode::Bars { bars, .. } = &mut self.mode {
            for b in bars.values() {
                b.set_style(text_style());
                b.finish();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn multi_for(target: Target) -> MultiProgress {
    MultiProgress::with_draw_target(match target {
        Target::Stdout => ProgressDrawTarget::stdout_with_hz(10),
        Target::Stderr => ProgressDrawTarget::stderr_with_hz(10),
    })
}

fn write_line(target: Target, text: &str) {
    match target {
        Target::Stdout => {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{text}");
            let _ = o.flush();
        }
        Target::Stderr => eprintln!("{text}"),
    }
}

fn text_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").expect("valid progress template")
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix}: {msg:<12} [{bar:40}] {decimal_bytes}/{decimal_total_bytes}",
    )
    .expect("valid progress template")
    .progress_chars("=> ")
}
