//! berthd on TCP: only with TLS, and only for clients whose certificate the given CA
//! signed. Certificates are made in the test with openssl.

use berth_tests::ports::free_port;
use std::path::Path;
use std::process::Command;

use berth_tests::berthd::Berthd;
use berth_tests::bins::bin;
use berth_tests::pki;
use berth_tests::require;

/// A CA (`<name>-ca.pem`) and a certificate it signed (`<name>-<who>.pem` and `.key`).
fn ca(dir: &Path, name: &str) {
    pki::ca(dir, &format!("{name}-ca"), &format!("{name} test CA"));
}

fn cert(dir: &Path, name: &str, who: &str, ext: &str) {
    pki::signed(
        dir,
        &format!("{name}-ca"),
        &format!("{name}-{who}"),
        who,
        ext,
    );
}

#[test]
fn tcp_needs_tls_and_a_client_certificate_from_the_ca() {
    require!(root, docker_cli);
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    ca(d, "good");
    cert(
        d,
        "good",
        "server",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    cert(d, "good", "client", "extendedKeyUsage=clientAuth\n");
    ca(d, "other");
    cert(d, "other", "client", "extendedKeyUsage=clientAuth\n");
    let port = free_port();
    let p = |f: &str| d.join(f).display().to_string();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let b = Berthd::start_with(
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &p("good-ca.pem"),
            "--tlscert",
            &p("good-server.pem"),
            "--tlskey",
            &p("good-server.key"),
        ],
        None,
    );
    let docker = |client: Option<&str>| {
        let mut c = b.docker();
        c.env("DOCKER_HOST", &tcp)
            .args(["--tlsverify", "--tlscacert", &p("good-ca.pem")]);
        if let Some(name) = client {
            c.args([
                "--tlscert",
                &p(&format!("{name}-client.pem")),
                "--tlskey",
                &p(&format!("{name}-client.key")),
            ]);
        }
        c.args(["version", "-f", "{{.Server.APIVersion}}"])
            .output()
            .unwrap()
    };
    let ok = docker(Some("good"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "1.47");
    assert!(
        !docker(Some("other")).status.success(),
        "a client of another CA got in"
    );
    assert!(
        !docker(None).status.success(),
        "a client without a certificate got in"
    );
    // Plain HTTP on the TLS port gets nothing useful.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = s.write_all(b"GET /_ping HTTP/1.0\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));

    // Without --tlsverify, a TCP host is refused at start-up.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("berthd"))
        .args(["-H", &format!("tcp://127.0.0.1:{}", free_port())])
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("berthd: ") && err.contains("without TLS"),
        "{err}"
    );
}
