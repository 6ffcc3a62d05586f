//! Build contexts of the classic builder besides a plain tar: bzip2 and xz compressed
//! tars (told by their magic), a bare Dockerfile on stdin (`docker build - < Dockerfile`),
//! and `remote=` naming a context tarball or a plain Dockerfile served over HTTP on
//! loopback by the test. Each runs against berthd and Debian's dockerd 20.10, whose
//! answers are the expectations.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::{require, unique};

use super::build_scratch::context;

/// `docker build ARGS -` with `input` on stdin: (exit code, stdout, stderr).
fn build_stdin(d: &DockerCli, args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut c = d
        .command()
        .env("DOCKER_BUILDKIT", "0")
        .arg("build")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run docker build");
    c.stdin.take().unwrap().write_all(input).unwrap();
    let out = c.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The context directory as a tar, piped through `compressor -c` when one is given.
fn tar_of(dir: &Path, compressor: Option<&str>) -> Vec<u8> {
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-cf", "-", "."])
        .output()
        .expect("run tar");
    assert!(tar.status.success());
    let Some(program) = compressor else {
        return tar.stdout;
    };
    let mut c = Command::new(program)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the compressor");
    c.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} failed");
    out.stdout
}

/// An HTTP server on loopback answering each GET of `/<name>` with `(content type,
/// body)`; serves until the test ends. Answers its base URL.
fn serve(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            // The rest of the request head.
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            let found = files.iter().find(|(n, _, _)| path == format!("/{n}"));
            let (status, ctype, body) = match found {
                Some((_, t, b)) => ("200 OK", *t, b.clone()),
                None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    url
}

/// `POST /build?remote=URL&t=TAG` over the raw API: the JSON lines' `stream` text and
/// `error`s.
fn remote_build(d: &DockerCli, url: &str, tag: &str) -> (String, String) {
    let q = format!(
        "/v1.41/build?remote={}&t={tag}&rm=1",
        url.replace(':', "%3A").replace('/', "%2F")
    );
    let r = raw_request(&d.socket(), "POST", &q, &[], b"");
    assert_eq!(r.status, 200, "{}: {}", d.daemon, r.text());
    let (mut text, mut errors) = (String::new(), String::new());
    for line in r.text().lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        if let Some(s) = v["stream"].as_str() {
            text.push_str(s);
        }
        if let Some(e) = v["error"].as_str() {
            errors.push_str(e);
        }
    }
    (text, errors)
}

fn cat(d: &DockerCli, image: &str, path: &str) -> String {
    d.ok(&["run", "--rm", "--network", "none", image, "cat", path])
}

fn run_all(d: &DockerCli, dir: &Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY data.txt /data.txt\n"),
        ("data.txt", "compressed context\n"),
    ]);
    let mut tags = Vec::new();
    for compressor in ["bzip2", "xz"] {
        let tag = unique(compressor);
        let (code, out, err) = build_stdin(d, &["-t", &tag], &tar_of(ctx.path(), Some(compressor)));
        assert_eq!(code, 0, "{} {compressor}: {err}{out}", d.daemon);
        assert!(
            out.contains("Step 2/2 : COPY data.txt /data.txt"),
            "{}: {out}",
            d.daemon
        );
        assert_eq!(
            cat(d, &tag, "/data.txt"),
            "compressed context\n",
            "{}",
            d.daemon
        );
        tags.push(tag);
    }
    // A Dockerfile alone on stdin: a context of just that file.
    let tag = unique("stdin");
    let (code, out, err) = build_stdin(
        d,
        &["-t", &tag],
        b"FROM busybox\nRUN echo on-stdin > /s.txt\n",
    );
    assert_eq!(code, 0, "{}: {err}{out}", d.daemon);
    assert_eq!(cat(d, &tag, "/s.txt"), "on-stdin\n", "{}", d.daemon);
    tags.push(tag);

    // remote=: a context tarball (gzip) and a plain Dockerfile, fetched by the daemon.
    let mut gz = Vec::new();
    {
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        e.write_all(&tar_of(ctx.path(), None)).unwrap();
        e.finish().unwrap();
    }
    let base = serve(vec![
        ("ctx.tar.gz", "application/x-gzip", gz),
        (
            "Dockerfile",
            "text/plain",
            b"FROM busybox\nRUN echo remote-dockerfile > /r.txt\n".to_vec(),
        ),
    ]);
    let tag = unique("remote-tar");
    let (text, errors) = remote_build(d, &format!("{base}/ctx.tar.gz"), &tag);
    assert_eq!(errors, "", "{}: {text}", d.daemon);
    assert!(
        text.contains(&format!("Successfully tagged {tag}:latest")),
        "{}: {text}",
        d.daemon
    );
    assert_eq!(
        cat(d, &tag, "/data.txt"),
        "compressed context\n",
        "{}",
        d.daemon
    );
    tags.push(tag);
    let tag = unique("remote-df");
    let (text, errors) = remote_build(d, &format!("{base}/Dockerfile"), &tag);
    assert_eq!(errors, "", "{}: {text}", d.daemon);
    assert!(
        text.contains("Step 2/2 : RUN echo remote-dockerfile > /r.txt"),
        "{}: {text}",
        d.daemon
    );
    assert_eq!(
        cat(d, &tag, "/r.txt"),
        "remote-dockerfile\n",
        "{}",
        d.daemon
    );
    tags.push(tag);
    for t in &tags {
        d.ok(&["rmi", t]);
    }
}

#[test]
fn berthd_compressed_stdin_and_remote_contexts() {
    require!(root, docker_cli);
    let b = Berthd::start();
    run_all(&b.cli(), b.dir.path());
}

/// The same builds on Debian's dockerd: the expectations are its answers.
#[test]
fn dockerd_compressed_stdin_and_remote_contexts() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    run_all(&d.cli(), d.dir.path());
}
