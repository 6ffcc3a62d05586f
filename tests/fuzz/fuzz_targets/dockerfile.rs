//! The classic builder's reading of a Dockerfile (berth-build): arbitrary bytes parsed as
//! a Dockerfile, then walked as the builder walks it: FROM expanded with the global ARGs,
//! every instruction's arguments substituted with the build arguments and ENV in effect,
//! ONBUILD triggers parsed again, WORKDIR normalised. The same bytes also go through the
//! word lexer directly and as a `.dockerignore`. Errors are fine; a panic is not.

#![no_main]

use std::collections::BTreeMap;

use berth_build::buildargs::BuildArgs;
use berth_build::dockerfile::{self, normalize_workdir, Command, Dockerfile};
use berth_build::expand::{env_map, Env, Lexer};
use berth_build::ignore::Matcher;

/// Walks the stages as the builder dispatches them, expanding as it goes.
fn dispatch(df: &Dockerfile) {
    let lexer = Lexer::new(df.escape);
    let mut args = BuildArgs::new(BTreeMap::from([("A".to_string(), Some("x y".to_string()))]));
    for meta in &df.meta_args {
        if let Command::Arg(defs) = &meta.command {
            for d in defs {
                args.add_meta_arg(d);
            }
        }
    }
    let _ = df.step_count();
    let _ = df.notices();
    for stage in &df.stages {
        let _ = stage.from().expanded(&lexer, &args.meta_env());
        let mut st = args.for_stage();
        let mut config_env = vec!["PATH=/usr/bin:/bin".to_string()];
        let mut workdir = "/".to_string();
        for ins in &stage.instructions {
            let env: Env = st.expansion_env(&config_env);
            let _ = ins.command.classic_refusal();
            let Ok(cmd) = ins.command.expanded(&lexer, &env) else {
                continue;
            };
            match &cmd {
                Command::Arg(defs) => defs.iter().for_each(|d| st.add_arg(d)),
                Command::Env(kvs) => {
                    config_env.extend(kvs.iter().map(|kv| format!("{}={}", kv.key, kv.value)))
                }
                Command::Workdir(w) => workdir = normalize_workdir(&workdir, w),
                Command::Onbuild(o) => {
                    let _ = dockerfile::parse_trigger(&o.expression);
                }
                Command::From(f) => {
                    let _ = df.stage_index(&f.image);
                }
                _ => {}
            }
        }
        args.merge_referenced(&st);
    }
    let _ = args.unused_warning();
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(df) = dockerfile::parse_bytes(data) {
        dispatch(&df);
    }
    let text = String::from_utf8_lossy(data);
    let env = env_map(["A=1", "B=two words", "EMPTY="]);
    for escape in ['\\', '`'] {
        let lexer = Lexer::new(escape);
        let _ = lexer.word(&text, &env);
        let _ = lexer.words(&text, &env);
    }
    if let Ok(m) = Matcher::from_dockerignore(&text) {
        for path in ["Dockerfile", "a/b/c", ".git", "src/main.rs"] {
            let _ = m.matches(path);
            let _ = m.can_skip_dir(path);
        }
    }
});
