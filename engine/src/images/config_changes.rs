//! The `--change` instructions of `commit` and `import` (`changes=` in the API): Dockerfile
//! instructions, parsed with the builder's parser, applied to an image's container config as
//! dockerd applies them. Only the instructions that change the config are accepted (dockerd's
//! list); any other is refused in dockerd's words ("run is not a valid change command").

use berth_api::container::{Config, Empty, HealthConfig};
use berth_build::dockerfile::{self, CmdLine, Command};
use berth_build::expand::{env_map, Lexer};

use crate::error::{Error, Result};

/// What dockerd accepts as a change (lower-case instruction names).
const VALID: &[&str] = &[
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "user",
    "volume",
    "workdir",
];

/// Applies `changes` (one instruction each) to `config`, in order. Errors are 400s.
pub fn apply(config: &mut Config, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes.iter().filter(|c| !c.trim().is_empty()) {
        let keyword = change
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase();
        if !VALID.contains(&keyword.as_str()) {
            return Err(Error::invalid(format!(
                "{keyword} is not a valid change command"
            )));
        }
        let ins = dockerfile::parse_trigger(change).map_err(|e| Error::invalid(e.message))?;
        let env = env_map(config.env.clone().unwrap_or_default());
        let command = ins
            .command
            .expanded(&Lexer::new('\\'), &env)
            .map_err(|e| Error::invalid(e.to_string()))?;
        apply_one(config, command, &mut cmd_set);
    }
    Ok(())
}

/// A CMD or ENTRYPOINT as the config holds it: shell form goes through the shell.
fn command_line(config: &Config, c: CmdLine) -> Vec<String> {
    if c.json {
        return c.args;
    }
    let mut v = config
        .shell
        .as_ref()
        .map(|s| s.0.clone())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    v.extend(c.args);
    v
}

fn apply_one(config: &mut Config, command: Command, cmd_set: &mut bool) {
    match command {
        Command::Cmd(c) => {
            config.cmd = Some(command_line(config, c).into());
            *cmd_set = true;
        }
        Command::Entrypoint(c) => {
            config.entrypoint = if c.args.is_empty() && !c.json {
                None
            } else {
                Some(command_line(config, c).into())
            };
            // As dockerd: an ENTRYPOINT drops the CMD unless a CMD came with it.
            if !*cmd_set {
                config.cmd = None;
            }
        }
        Command::Env(kvs) => {
            let env = config.env.get_or_insert_with(Vec::new);
            for kv in kvs {
                let prefix = format!("{}=", kv.key);
                let entry = format!("{}={}", kv.key, kv.value);
                match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                    Some(e) => *e = entry,
                    None => env.push(entry),
                }
            }
        }
        Command::Label(kvs) => {
            let labels = config.labels.get_or_insert_with(Default::default);
            for kv in kvs {
                labels.insert(kv.key, kv.value);
            }
        }
        Command::Expose(ports) => {
            let exposed = config.exposed_ports.get_or_insert_with(Default::default);
            for p in ports {
                let p = if p.contains('/') {
                    p
                } else {
                    format!("{p}/tcp")
                };
                exposed.insert(p, Empty {});
            }
        }
        Command::Onbuild(o) => config
            .on_build
            .get_or_insert_with(Vec::new)
            .push(o.expression),
        Command::User(u) => config.user = u,
        Command::Volume(vs) => {
            let volumes = config.volumes.get_or_insert_with(Default::default);
            for v in vs {
                volumes.insert(v, Empty {});
            }
        }
        Command::Workdir(d) => {
            let base = if config.working_dir.is_empty() {
                "/"
            } else {
                config.working_dir.as_str()
            };
            config.working_dir = berth_gocompat::path::clean(
                &std::path::Path::new(base).join(&d).display().to_string(),
            );
        }
        Command::Healthcheck(h) => {
            config.healthcheck = Some(HealthConfig {
                test: Some(h.test),
                interval: h.interval,
                timeout: h.timeout,
                start_period: h.start_period,
                start_interval: h.start_interval,
                retries: h.retries,
            })
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(changes: &[&str]) -> Result<Config> {
        let mut c = Config {
            env: Some(vec!["PATH=/bin".into()]),
            cmd: Some(vec!["sh".to_string()].into()),
            ..Default::default()
        };
        let v: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply(&mut c, &v)?;
        Ok(c)
    }

    #[test]
    fn applies_what_dockerd_applies() {
        let c = changed(&[
            "ENV X=$PATH:y",
            r#"ENTRYPOINT ["a"]"#,
            "WORKDIR rel",
            "EXPOSE 80 90/udp",
            "LABEL k=v",
            "USER nobody",
            "VOLUME /data",
        ])
        .unwrap();
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin", "X=/bin:y"]);
        assert_eq!(c.entrypoint.unwrap().0, vec!["a"]);
        assert!(c.cmd.is_none(), "ENTRYPOINT without CMD drops the CMD");
        assert_eq!(c.working_dir, "/rel");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, vec!["80/tcp", "90/udp"]);
        assert_eq!(c.labels.unwrap()["k"], "v");
        assert_eq!(c.user, "nobody");
        assert!(c.volumes.unwrap().contains_key("/data"));
        let c = changed(&["CMD echo hi"]).unwrap();
        assert_eq!(c.cmd.unwrap().0, vec!["/bin/sh", "-c", "echo hi"]);
    }

    #[test]
    fn refuses_what_dockerd_refuses() {
        for (change, msg) in [
            ("RUN x", "run is not a valid change command"),
            ("FOO x", "foo is not a valid change command"),
            ("STOPSIGNAL 9", "stopsignal is not a valid change command"),
            ("ENV", "ENV requires at least one argument"),
        ] {
            let e = changed(&[change]).unwrap_err();
            assert_eq!(e.message, msg, "{change}");
            assert_eq!(e.kind, crate::error::Kind::InvalidParameter);
        }
    }
}
