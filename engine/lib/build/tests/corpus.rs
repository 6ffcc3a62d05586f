//! The Dockerfile corpus: every `tests/corpus/NAME.Dockerfile` with its `NAME.expect`,
//! whose expectations are dockerd 20.10's real answers (re-check them with
//! `tests/check-dockerd.sh` against Debian's dockerd):
//!
//! - `steps`: accepted; the following lines are the `Step N/M : <text>` texts;
//! - `error`: refused with this message;
//! - `dispatch-error`: accepted, and the build stops at an instruction with this message
//!   (a classic-builder refusal or a variable that cannot be expanded).

use berth_build::buildargs::BuildArgs;
use berth_build::dockerfile::{self, history, Command, Dockerfile};
use berth_build::expand::Lexer;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn corpus() -> Vec<(String, String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| {
            let path = e.expect("corpus entry").path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".Dockerfile")?
                .to_string();
            let text = std::fs::read_to_string(&path).expect("read Dockerfile");
            let expect = std::fs::read_to_string(dir.join(format!("{name}.expect")))
                .unwrap_or_else(|_| panic!("{name}.expect is missing"));
            Some((name, text, expect))
        })
        .collect();
    cases.sort();
    cases
}

/// Walks the steps as the classic builder would before running anything, and returns
/// the first error: a classic-builder refusal or a failed expansion.
fn first_dispatch_error(file: &Dockerfile) -> Option<String> {
    let lexer = Lexer::new(file.escape);
    let mut global = BuildArgs::new(BTreeMap::new());
    for meta in &file.meta_args {
        let env = global.expansion_env(&[]);
        let args = match meta.command.expanded(&lexer, &env) {
            Ok(Command::Arg(args)) => args,
            Ok(other) => unreachable!("meta args are ARGs, not {other:?}"),
            Err(e) => return Some(e.to_string()),
        };
        args.iter().for_each(|a| global.add_meta_arg(a));
    }
    for stage in &file.stages {
        if let Err(e) = stage.from().expanded(&lexer, &global.meta_env()) {
            return Some(e);
        }
        let mut args = global.for_stage();
        let mut env: Vec<String> = Vec::new();
        for i in &stage.instructions {
            if let Some(refusal) = i.command.classic_refusal() {
                return Some(refusal);
            }
            let expanded = match i.command.expanded(&lexer, &args.expansion_env(&env)) {
                Ok(c) => c,
                Err(e) => return Some(e.to_string()),
            };
            match expanded {
                Command::Env(kv) => env.extend(kv.iter().map(|p| format!("{}={}", p.key, p.value))),
                Command::Arg(defs) => defs.iter().for_each(|a| args.add_arg(a)),
                _ => {}
            }
        }
    }
    None
}

#[test]
fn corpus_answers_as_dockerd_does() {
    let cases = corpus();
    assert!(
        cases.len() > 100,
        "the corpus went missing: {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for (name, text, expect) in &cases {
        let (kind, rest) = expect.split_once('\n').unwrap_or((expect, ""));
        let result = dockerfile::parse(text);
        let outcome = match (kind, &result) {
            ("steps", Ok(file)) => {
                let want: Vec<&str> = rest.lines().collect();
                let got: Vec<&str> = file.instructions().map(|i| i.text.as_str()).collect();
                let steps: Vec<String> = got
                    .iter()
                    .enumerate()
                    .map(|(n, t)| history::step_line(n + 1, file.step_count(), t))
                    .collect();
                if got != want || steps.len() != file.step_count() {
                    Err(format!("steps {got:?}, want {want:?}"))
                } else if let Some(e) = first_dispatch_error(file) {
                    Err(format!("accepted, but a step fails: {e}"))
                } else {
                    Ok(())
                }
            }
            ("error", Err(e)) if e.to_string() == rest.trim_end_matches('\n') => Ok(()),
            ("dispatch-error", Ok(file)) => match first_dispatch_error(file) {
                Some(e) if e == rest.trim_end_matches('\n') => Ok(()),
                other => Err(format!("dispatch gives {other:?}")),
            },
            _ => Err(format!("parse gives {result:?}")),
        };
        if let Err(why) = outcome {
            failures.push(format!("{name}: expected {kind} {rest:?}; {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
