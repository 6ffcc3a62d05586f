//! `berth` over TCP with TLS, docker's way: `--tlsverify` checks the daemon against a CA,
//! a client certificate authenticates us, `--tls` alone encrypts without checking, and
//! BERTH_CERT_PATH/BERTH_TLS_VERIFY give the same from the environment. Hijacked streams
//! (attach, stdin with half-close) work over TLS too. Only loopback traffic.

use berth_tests::ports::free_port;
use std::path::Path;

use berth_tests::berthd::Berthd;
use berth_tests::cli::{busybox_archive, Berth};
use berth_tests::dockerd::Dockerd;
use berth_tests::pki::{ca, signed};
use berth_tests::require;

/// A CA, another CA, and a server (127.0.0.1) and a client certificate signed by the first.
fn certificates() -> tempfile::TempDir {
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    ca(d, "ca", "test-ca");
    ca(d, "other-ca", "other-test-ca");
    signed(
        d,
        "ca",
        "server",
        "127.0.0.1",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    signed(
        d,
        "ca",
        "client",
        "berth-client",
        "extendedKeyUsage=clientAuth\n",
    );
    certs
}

/// The daemon flags for a verified TLS listener on `tcp`.
fn listener_flags(d: &Path, tcp: &str) -> Vec<String> {
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    vec![
        "-H".to_string(),
        tcp.to_string(),
        "--tlsverify".into(),
        "--tlscacert".into(),
        p("ca.pem"),
        "--tlscert".into(),
        p("server.pem"),
        "--tlskey".into(),
        p("server.key"),
    ]
}

#[test]
fn tls_with_client_certificates_dockerd() {
    require!(root, dockerd);
    let certs = certificates();
    let tcp = format!("tcp://127.0.0.1:{}", free_port());
    let daemon =
        Dockerd::start_with(&listener_flags(certs.path(), &tcp)).expect("dockerd is installed");
    check_tls(certs.path(), &daemon.host(), &tcp);
}

#[test]
fn tls_with_client_certificates_berthd() {
    require!(root);
    let certs = certificates();
    let tcp = format!("tcp://127.0.0.1:{}", free_port());
    let flags = listener_flags(certs.path(), &tcp);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon = Berthd::start_with(&flags, None);
    check_tls(certs.path(), &daemon.host(), &tcp);
}

/// The checks, with the daemon listening on `local_host` (unix) and on `tcp` with TLS.
fn check_tls(d: &Path, local_host: &str, tcp: &str) {
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let local = Berth::new(local_host);
    let work = tempfile::tempdir().unwrap();
    local.ok(&["load", "-i", busybox_archive(work.path()).to_str().unwrap()]);

    let remote = Berth::new(tcp);
    let verified = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["--tlsverify", "--tlscacert"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.push(p("ca.pem"));
        v.extend([
            "--tlscert".to_string(),
            p("client.pem"),
            "--tlskey".to_string(),
            p("client.key"),
        ]);
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>, input: Option<&[u8]>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        remote.run_stdin(&refs, input)
    };

    let o = run(
        verified(&["version", "--format", "{{.Server.Version}}"]),
        None,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!o.stdout.trim().is_empty(), "{o:?}");
    // Attach is a hijacked stream; stdin ends with a TLS close_notify and a half-close.
    let o = run(
        verified(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo over-tls; exit 6",
        ]),
        None,
    );
    assert_eq!((o.code, o.stdout.as_str()), (6, "over-tls\n"), "{o:?}");
    let o = run(
        verified(&["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo end"]),
        Some(b"piped-in\n"),
    );
    assert_eq!(o.stdout, "piped-in\nend\n", "{o:?}");

    // The daemon requires a client certificate.
    let o = run(
        vec![
            "--tlsverify".into(),
            "--tlscacert".into(),
            p("ca.pem"),
            "ps".into(),
        ],
        None,
    );
    assert_ne!(o.code, 0, "{o:?}");
    // A daemon certificate from another CA is refused.
    let mut other = verified(&["ps"]);
    other[2] = p("other-ca.pem");
    let o = run(other, None);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.to_lowercase().contains("certificate"), "{o:?}");
    // --tls alone: encrypted, the daemon not checked.
    let o = run(
        vec![
            "--tls".into(),
            "--tlscert".into(),
            p("client.pem"),
            "--tlskey".into(),
            p("client.key"),
            "ps".into(),
            "-q".into(),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{o:?}");
    // The same from the environment: BERTH_CERT_PATH holds ca.pem, cert.pem, key.pem.
    let env_dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("ca.pem", "ca.pem"),
        ("client.pem", "cert.pem"),
        ("client.key", "key.pem"),
    ] {
        std::fs::copy(d.join(from), env_dir.path().join(to)).unwrap();
    }
    let o = remote
        .cmd(&["ps", "-a", "-q"])
        .env("BERTH_CERT_PATH", env_dir.path())
        .env("BERTH_TLS_VERIFY", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Plain TCP to a TLS port fails with a message saying TLS is needed, not a hang.
    let o = remote.run(&["ps"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("--tlsverify"), "{o:?}");
    // The same through DOCKER_* variables, and through a docker context holding the TLS
    // material (made by the docker CLI when it is installed, else by berth).
    let o = remote
        .cmd(&["ps", "-a", "-q"])
        .env("DOCKER_CERT_PATH", env_dir.path())
        .env("DOCKER_TLS_VERIFY", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let conf = tempfile::tempdir().unwrap();
    let endpoint = format!(
        "host={tcp},ca={},cert={},key={}",
        p("ca.pem"),
        p("client.pem"),
        p("client.key")
    );
    let create = ["context", "create", "secure", "--docker", endpoint.as_str()];
    let made = match berth_tests::berthd::docker_cli() {
        Some(docker) => std::process::Command::new(docker)
            .args(create)
            .env("DOCKER_CONFIG", conf.path())
            .output()
            .unwrap(),
        None => local
            .cmd(&create)
            .env("BERTH_CONFIG", conf.path())
            .output()
            .unwrap(),
    };
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let o = std::process::Command::new(berth_tests::bins::bin("berth"))
        .args([
            "--context",
            "secure",
            "version",
            "--format",
            "{{.Server.Version}}",
        ])
        .env("DOCKER_CONFIG", conf.path())
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!o.stdout.is_empty());
}
