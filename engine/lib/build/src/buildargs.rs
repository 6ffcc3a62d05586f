//! Build arguments in effect at each step, as dockerd's classic builder tracks them:
//! `--build-arg` values, ARG declarations (global ones before the first FROM, and per
//! stage), the proxy variables that need no declaration, and which `--build-arg`s were
//! never used.
//!
//! Where dockerd iterates Go maps (random order), lists here are sorted.

use crate::dockerfile::ArgDef;
use crate::expand::{env_map, Env};
use std::collections::{BTreeMap, BTreeSet};

/// Build arguments usable without an ARG declaration.
pub const BUILTIN: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn is_builtin(key: &str) -> bool {
    BUILTIN.contains(&key)
}

/// The build arguments of a build, or of one stage of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    /// ARGs declared in the current stage (the global ones for the pre-FROM part).
    allowed: BTreeMap<String, Option<String>>,
    /// ARGs declared before the first FROM.
    meta: BTreeMap<String, Option<String>>,
    /// Names declared anywhere so far (a `--build-arg` never declared is reported).
    referenced: BTreeSet<String>,
    /// `--build-arg NAME=value` (Some) or `--build-arg NAME` without a value in the
    /// client's environment (None).
    options: BTreeMap<String, Option<String>>,
}

impl BuildArgs {
    pub fn new(options: BTreeMap<String, Option<String>>) -> BuildArgs {
        BuildArgs {
            options,
            ..BuildArgs::default()
        }
    }

    /// The arguments a new stage starts with: the global ones stay known for FROM and
    /// for re-declaration (`ARG NAME` inside the stage), none is in effect yet.
    pub fn for_stage(&self) -> BuildArgs {
        BuildArgs {
            allowed: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// Records the names a finished stage declared.
    pub fn merge_referenced(&mut self, stage: &BuildArgs) {
        self.referenced.extend(stage.referenced.iter().cloned());
    }

    /// A global ARG (before the first FROM), with its default already expanded.
    pub fn add_meta_arg(&mut self, arg: &ArgDef) {
        self.add_arg(arg);
        self.meta.insert(arg.key.clone(), arg.value.clone());
    }

    /// An ARG in the current stage, with its default already expanded.
    pub fn add_arg(&mut self, arg: &ArgDef) {
        self.allowed.insert(arg.key.clone(), arg.value.clone());
        self.referenced.insert(arg.key.clone());
    }

    /// The value of `key` for `declared` (the stage's or the global declarations): the
    /// `--build-arg` value first, then the declared default, then for a declaration
    /// without default the global one.
    fn value(&self, key: &str, declared: &BTreeMap<String, Option<String>>) -> Option<String> {
        if let Some(Some(v)) = self.options.get(key) {
            return Some(v.clone());
        }
        match declared.get(key) {
            Some(Some(default)) => Some(default.clone()),
            _ => self.meta.get(key).cloned().flatten(),
        }
    }

    fn all_of(&self, declared: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
        declared
            .keys()
            .map(String::as_str)
            .chain(BUILTIN)
            .filter_map(|k| Some((k.to_string(), self.value(k, declared)?)))
            .collect()
    }

    /// The arguments in effect in the current stage, with their values.
    pub fn all_allowed(&self) -> BTreeMap<String, String> {
        self.all_of(&self.allowed)
    }

    /// The global arguments with their values (what FROM lines expand with).
    pub fn all_meta(&self) -> BTreeMap<String, String> {
        self.all_of(&self.meta)
    }

    /// `NAME=value` of the arguments in effect that the config's environment (`NAME=value`
    /// list) does not already set: an ENV wins over an ARG of the same name.
    pub fn filter_allowed(&self, config_env: &[String]) -> Vec<String> {
        let env = env_map(config_env);
        self.all_allowed()
            .into_iter()
            .filter(|(k, _)| !env.contains_key(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// The variables for expanding an instruction's arguments: the config's environment
    /// and the arguments in effect.
    pub fn expansion_env(&self, config_env: &[String]) -> Env {
        env_map(
            config_env
                .iter()
                .cloned()
                .chain(self.filter_allowed(config_env)),
        )
    }

    /// The variables for expanding FROM: the global arguments only.
    pub fn meta_env(&self) -> Env {
        self.all_meta().into_iter().collect()
    }

    /// What dockerd puts before a RUN command in its cache key and history when
    /// arguments are in effect: `|N` and the N `NAME=value` (sorted; proxy variables only
    /// when declared). Empty when no argument is in effect.
    pub fn run_prefix(&self, config_env: &[String]) -> Vec<String> {
        let in_effect = self.filter_allowed(config_env);
        if in_effect.is_empty() {
            return Vec::new();
        }
        let mut shown: Vec<String> = in_effect
            .into_iter()
            .filter(|e| {
                let key = e.split('=').next().unwrap_or_default();
                self.allowed.contains_key(key) || !is_builtin(key)
            })
            .collect();
        shown.sort();
        std::iter::once(format!("|{}", shown.len()))
            .chain(shown)
            .collect()
    }

    /// `--build-arg`s that no ARG declared (proxy variables aside), sorted.
    pub fn unused(&self) -> Vec<String> {
        self.options
            .keys()
            .filter(|k| !self.referenced.contains(*k) && !is_builtin(k))
            .cloned()
            .collect()
    }

    /// dockerd's warning about unused `--build-arg`s, if any.
    pub fn unused_warning(&self) -> Option<String> {
        let unused = self.unused();
        (!unused.is_empty()).then(|| {
            format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(k: &str, v: Option<&str>) -> ArgDef {
        ArgDef {
            key: k.into(),
            value: v.map(str::to_string),
        }
    }

    fn options(list: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    // As dockerd 20.10 records `ARG q=1 r` then `RUN …`: `|1 q=1 /bin/sh -c …`.
    #[test]
    fn run_prefix_lists_arguments_with_values() {
        let mut b = BuildArgs::new(BTreeMap::new()).for_stage();
        b.add_arg(&arg("q", Some("1")));
        b.add_arg(&arg("r", None));
        assert_eq!(b.run_prefix(&[]), ["|1", "q=1"]);
        assert_eq!(
            b.run_prefix(&["q=env".into()]),
            Vec::<String>::new(),
            "ENV wins"
        );
    }

    #[test]
    fn options_override_defaults_and_globals_fill_bare_declarations() {
        let mut global = BuildArgs::new(options(&[("V", Some("cli")), ("HTTP_PROXY", Some("p"))]));
        global.add_meta_arg(&arg("V", Some("1")));
        global.add_meta_arg(&arg("B", Some("busy")));
        assert_eq!(global.meta_env()["V"], "cli");
        assert_eq!(global.meta_env()["B"], "busy");
        let mut stage = global.for_stage();
        assert!(
            !stage.all_allowed().contains_key("B"),
            "globals need re-declaring"
        );
        assert_eq!(
            stage.all_allowed()["HTTP_PROXY"],
            "p",
            "proxies need no ARG"
        );
        stage.add_arg(&arg("B", None));
        assert_eq!(stage.all_allowed()["B"], "busy");
        // Undeclared proxies are passed to RUN but left out of the cache key.
        assert_eq!(stage.run_prefix(&[]), ["|1", "B=busy"]);
        stage.add_arg(&arg("HTTP_PROXY", None));
        assert_eq!(stage.run_prefix(&[]), ["|2", "B=busy", "HTTP_PROXY=p"]);
        let env = stage.expansion_env(&["PATH=/bin".into(), "B=env".into()]);
        assert_eq!((env["B"].as_str(), env["PATH"].as_str()), ("env", "/bin"));
    }

    // As dockerd 20.10 words it after a build with `--build-arg X=1 --build-arg Y=2`.
    #[test]
    fn unused_build_args_are_reported() {
        let mut global = BuildArgs::new(options(&[
            ("X", Some("1")),
            ("Y", Some("2")),
            ("no_proxy", None),
        ]));
        let mut stage = global.for_stage();
        stage.add_arg(&arg("Y", None));
        global.merge_referenced(&stage);
        assert_eq!(global.unused(), ["X"]);
        assert_eq!(
            global.unused_warning().unwrap(),
            "[Warning] One or more build-args [X] were not consumed"
        );
        global.merge_referenced(&{
            let mut s = global.for_stage();
            s.add_arg(&arg("X", None));
            s
        });
        assert_eq!(global.unused_warning(), None);
    }
}
