//! `berth context ...` shares the docker CLI's context store: contexts made by
//! `docker context create` drive berth, contexts made by berth are read by docker, and
//! the daemon is chosen with docker's precedence (-H, --context, DOCKER_HOST,
//! DOCKER_CONTEXT, currentContext).

use std::path::Path;
use std::process::Command;

use berth_tests::bins::bin;
use berth_tests::cli::Engine;
use berth_tests::{require, unique};
use serde_json::Value;

/// Output of a command: (exit code, stdout, stderr).
fn out(mut c: Command) -> (i32, String, String) {
    let o = c.output().expect("run the CLI");
    (
        o.status.code().unwrap_or(128),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A CLI with only `DOCKER_CONFIG` (no host, context or berth variables).
fn cli(program: std::path::PathBuf, config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args).env("DOCKER_CONFIG", config);
    for v in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "BERTH_HOST",
        "BERTH_CONFIG",
        "BERTH_CONTEXT",
        "BERTH_TLS_VERIFY",
        "BERTH_CERT_PATH",
    ] {
        c.env_remove(v);
    }
    c
}

fn berth(config: &Path, args: &[&str]) -> Command {
    cli(bin("berth"), config, args)
}

fn docker(config: &Path, args: &[&str]) -> Command {
    let program = berth_tests::berthd::docker_cli().expect("the docker CLI is installed");
    cli(program, config, args)
}

fn ok(c: Command) -> String {
    let what = format!("{c:?}");
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, 0, "{what}: {stderr}");
    stdout
}

#[test]
fn contexts_are_shared_with_the_docker_cli() {
    require!(root, docker_cli);
    let e = Engine::berthd();
    e.reset();
    let host = e.berth.host.clone();
    let conf = tempfile::tempdir().unwrap();
    let conf = conf.path();
    let marker = unique("ctx-marker");
    e.berth.ok(&["create", "--name", &marker, "busybox"]);

    // A context made by docker drives berth.
    let from_docker = unique("from-docker");
    ok(docker(
        conf,
        &[
            "context",
            "create",
            &from_docker,
            "--description",
            "made by docker",
            "--docker",
            &format!("host={host}"),
        ],
    ));
    let ls = ok(berth(conf, &["context", "ls"]));
    let row = ls
        .lines()
        .find(|l| l.starts_with(&from_docker))
        .unwrap_or_else(|| panic!("{from_docker} not listed: {ls}"));
    assert!(
        row.contains("made by docker") && row.contains(&host),
        "{ls}"
    );
    assert!(ls.lines().any(|l| l.starts_with("default *")), "{ls}");
    let names = ok(berth(
        conf,
        &[
            "--context",
            &from_docker,
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
        ],
    ));
    assert!(names.lines().any(|n| n == marker), "{names}");

    // `use` writes currentContext, which docker reads, and berth follows without flags.
    assert_eq!(
        ok(berth(conf, &["context", "use", &from_docker])),
        format!("{from_docker}\n")
    );
    assert_eq!(
        ok(docker(conf, &["context", "show"])),
        format!("{from_docker}\n")
    );
    assert_eq!(
        ok(berth(conf, &["context", "show"])),
        format!("{from_docker}\n")
    );
    let names = ok(berth(conf, &["ps", "-a", "--format", "{{.Names}}"]));
    assert!(names.lines().any(|n| n == marker), "{names}");

    // Precedence: DOCKER_HOST beats currentContext, --context beats DOCKER_HOST, -H and
    // --context together are refused, DOCKER_CONTEXT beats currentContext.
    let nowhere = format!("unix://{}", conf.join("no-daemon.sock").display());
    let mut c = berth(conf, &["ps"]);
    c.env("DOCKER_HOST", &nowhere);
    let (code, _, stderr) = out(c);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no-daemon.sock"), "{stderr}");
    let mut c = berth(conf, &["--context", &from_docker, "ps", "-a", "-q"]);
    c.env("DOCKER_HOST", &nowhere);
    ok(c);
    let (code, _, stderr) = out(berth(conf, &["-H", &host, "--context", &from_docker, "ps"]));
    assert_eq!(code, 125, "{stderr}");
    assert!(
        stderr.contains("either specify --host or --context"),
        "{stderr}"
    );
    let mut c = berth(conf, &["ps"]);
    c.env("DOCKER_CONTEXT", "default")
        .env("BERTH_HOST", &nowhere);
    assert_eq!(
        out(c).0,
        1,
        "BERTH_HOST is a host variable, before DOCKER_CONTEXT"
    );
    let mut c = berth(conf, &["context", "show"]);
    c.env("DOCKER_CONTEXT", "default");
    assert_eq!(ok(c), "default\n");

    // A context made by berth, with TLS material, is docker's to read.
    let pem = |n: &str| {
        let p = conf.join(n);
        std::fs::write(&p, format!("-----{n}-----\n")).unwrap();
        p.to_str().unwrap().to_string()
    };
    let from_berth = unique("from-berth");
    let (code, stdout, stderr) = out(berth(
        conf,
        &[
            "context",
            "create",
            &from_berth,
            "--description",
            "made by berth",
            "--docker",
            &format!(
                "host=tcp://127.0.0.1:2376,ca={},cert={},key={},skip-tls-verify=true",
                pem("ca"),
                pem("cert"),
                pem("key")
            ),
        ],
    ));
    assert_eq!((code, stdout), (0, format!("{from_berth}\n")), "{stderr}");
    assert!(stderr.contains("Successfully created context"), "{stderr}");
    let seen: Value =
        serde_json::from_str(&ok(docker(conf, &["context", "inspect", &from_berth]))).unwrap();
    let seen = &seen[0];
    assert_eq!(seen["Metadata"]["Description"], "made by berth", "{seen}");
    assert_eq!(
        seen["Endpoints"]["docker"]["Host"], "tcp://127.0.0.1:2376",
        "{seen}"
    );
    assert_eq!(seen["Endpoints"]["docker"]["SkipTLSVerify"], true, "{seen}");
    let mut tls: Vec<String> = seen["TLSMaterial"]["docker"]
        .as_array()
        .unwrap_or_else(|| panic!("no TLS material: {seen}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    tls.sort();
    assert_eq!(tls, ["ca.pem", "cert.pem", "key.pem"], "{seen}");
    let ours: Value =
        serde_json::from_str(&ok(berth(conf, &["context", "inspect", &from_berth]))).unwrap();
    assert_eq!(ours[0]["Storage"], seen["Storage"], "same files: {ours}");
    let dup = out(berth(
        conf,
        &[
            "context",
            "create",
            &from_berth,
            "--docker",
            "host=unix:///x",
        ],
    ));
    assert_eq!(dup.0, 1, "{dup:?}");
    assert!(dup.2.contains("already exists"), "{dup:?}");

    // Removing: the current context only with -f, which resets it to default.
    assert_eq!(
        ok(berth(conf, &["context", "rm", &from_berth])),
        format!("{from_berth}\n")
    );
    assert!(!ok(docker(conf, &["context", "ls", "-q"])).contains(&from_berth));
    let (code, _, stderr) = out(berth(conf, &["context", "rm", &from_docker]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is in use"), "{stderr}");
    ok(berth(conf, &["context", "rm", "-f", &from_docker]));
    assert_eq!(ok(docker(conf, &["context", "show"])), "default\n");
    assert_eq!(ok(berth(conf, &["context", "ls", "-q"])), "default\n");
}

#[test]
fn docker_environment_variables_are_honoured() {
    require!(root);
    let e = Engine::berthd();
    e.reset();
    let conf = tempfile::tempdir().unwrap();
    let marker = unique("env-marker");
    e.berth.ok(&["create", "--name", &marker, "busybox"]);
    // DOCKER_HOST alone reaches the daemon.
    let mut c = berth(conf.path(), &["ps", "-a", "--format", "{{.Names}}"]);
    c.env("DOCKER_HOST", &e.berth.host);
    assert!(ok(c).lines().any(|n| n == marker));
    // BERTH_HOST wins over DOCKER_HOST.
    let mut c = berth(conf.path(), &["ps", "-a", "-q"]);
    c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("BERTH_HOST", &e.berth.host);
    ok(c);
    // DOCKER_CONFIG holds the credentials store when BERTH_CONFIG is not set.
    std::fs::write(
        conf.path().join("config.json"),
        r#"{"auths": {"127.0.0.1:1": {"auth": "dTpw"}}}"#,
    )
    .unwrap();
    let mut c = berth(conf.path(), &["logout", "127.0.0.1:1"]);
    c.env("DOCKER_HOST", &e.berth.host);
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Removing login credentials for 127.0.0.1:1"),
        "{stdout}"
    );
    let left = std::fs::read_to_string(conf.path().join("config.json")).unwrap();
    assert!(!left.contains("dTpw"), "{left}");
    // DOCKER_TLS_VERIFY asks for TLS: a unix socket ignores it, a TCP address needs the
    // certificates of DOCKER_CERT_PATH, and says which file is missing.
    let mut c = berth(conf.path(), &["-H", "tcp://127.0.0.1:9", "ps"]);
    c.env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", conf.path().join("no-certs"));
    let (code, _, stderr) = out(c);
    assert_ne!(code, 0);
    assert!(stderr.contains("no-certs"), "{stderr}");
}
