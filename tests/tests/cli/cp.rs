//! `berth cp` in both directions with docker's rules: files, directories, `DIR/.`, new
//! names, tar streams on stdin/stdout, and clear errors for missing paths.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use berth_tests::cli::Engine;
use berth_tests::unique;

berth_tests::cli_scenarios!(host_to_container, container_to_host, tar_streams_and_errors);

/// A small tree: f, sub/g, link -> f.
fn tree(dir: &Path) {
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("f"), "file f\n").unwrap();
    fs::write(dir.join("sub/g"), "file g\n").unwrap();
    symlink("f", dir.join("link")).unwrap();
}

fn container(e: &Engine) -> String {
    let name = unique("cp");
    e.berth
        .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);
    name
}

fn host_to_container(e: &Engine) {
    let src = e.work.path().join("src");
    tree(&src);
    let c = container(e);
    let s = src.to_str().unwrap();
    let sh = |cmd: &str| e.berth.ok(&["exec", &c, "sh", "-c", cmd]);
    // A directory into an existing directory keeps its name; links stay links.
    e.berth.ok(&["cp", s, &format!("{c}:/tmp")]);
    assert_eq!(
        sh("cat /tmp/src/f /tmp/src/sub/g; readlink /tmp/src/link"),
        "file f\nfile g\nf\n"
    );
    // A directory to a new path takes that name; DIR/. copies the contents.
    e.berth.ok(&["cp", s, &format!("{c}:/tmp/renamed")]);
    assert_eq!(sh("cat /tmp/renamed/f"), "file f\n");
    e.berth.ok(&["cp", &format!("{s}/."), &format!("{c}:/tmp")]);
    assert_eq!(sh("cat /tmp/f"), "file f\n");
    // A file to a new name, and over an existing file.
    e.berth
        .ok(&["cp", &format!("{s}/f"), &format!("{c}:/tmp/newfile")]);
    e.berth
        .ok(&["cp", &format!("{s}/sub/g"), &format!("{c}:/tmp/newfile")]);
    assert_eq!(sh("cat /tmp/newfile"), "file g\n");
    // Copied files belong to root unless -a.
    assert_eq!(sh("stat -c %u:%g /tmp/newfile"), "0:0\n");
    let o = e.berth.run(&["cp", s, &format!("{c}:/tmp/newfile")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("cannot copy a directory to a file"),
        "{o:?}"
    );
    let o = e
        .berth
        .run(&["cp", &format!("{s}/f"), &format!("{c}:/no/such/dir/")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("does not exist"), "{o:?}");
    e.berth.ok(&["rm", "-f", &c]);
}

fn container_to_host(e: &Engine) {
    let c = container(e);
    e.berth.ok(&[
        "exec",
        &c,
        "sh",
        "-c",
        "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && ln -s a /data/l",
    ]);
    let out = e.work.path().join("out");
    fs::create_dir(&out).unwrap();
    let o = |p: &str| out.join(p);
    let dest = out.to_str().unwrap();
    let o1 = e.berth.run(&["cp", &format!("{c}:/data"), dest]);
    assert_eq!(o1.code, 0, "{o1:?}");
    assert!(o1.stderr.starts_with("Successfully copied "), "{o1:?}");
    assert_eq!(fs::read_to_string(o("data/sub/b")).unwrap(), "two\n");
    assert_eq!(fs::read_link(o("data/l")).unwrap(), Path::new("a"));
    // To a new name; DIR/. to a new directory (its contents); a file to a new name.
    e.berth
        .ok(&["cp", &format!("{c}:/data"), o("copy").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(o("copy/a")).unwrap(), "one\n");
    e.berth.ok(&[
        "cp",
        &format!("{c}:/data/."),
        o("contents").to_str().unwrap(),
    ]);
    assert_eq!(fs::read_to_string(o("contents/a")).unwrap(), "one\n");
    assert!(!o("contents/data").exists());
    e.berth
        .ok(&["cp", &format!("{c}:/data/a"), o("file").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(o("file")).unwrap(), "one\n");
    // Over an existing file; into an existing directory.
    e.berth.ok(&[
        "cp",
        &format!("{c}:/data/sub/b"),
        o("file").to_str().unwrap(),
    ]);
    assert_eq!(fs::read_to_string(o("file")).unwrap(), "two\n");
    e.berth.ok(&[
        "cp",
        "-q",
        &format!("{c}:/data/a"),
        o("contents").to_str().unwrap(),
    ]);
    let err = e
        .berth
        .run(&["cp", &format!("{c}:/data"), o("file").to_str().unwrap()]);
    assert_eq!(err.code, 1, "{err:?}");
    assert!(
        err.stderr.contains("cannot copy a directory to a file"),
        "{err:?}"
    );
    e.berth.ok(&["rm", "-f", &c]);
}

fn tar_streams_and_errors(e: &Engine) {
    let c = container(e);
    // stdout: a tar stream of the path.
    let o = e
        .berth
        .cmd(&["cp", &format!("{c}:/etc/passwd"), "-"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["passwd"]);
    // stdin: a tar stream extracted into a container directory.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    b.append_data(&mut h, "from-stdin", &b"piped\n"[..])
        .unwrap();
    let archive = b.into_inner().unwrap();
    let o = e
        .berth
        .run_stdin(&["cp", "-", &format!("{c}:/tmp")], Some(&archive));
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        e.berth.ok(&["exec", &c, "cat", "/tmp/from-stdin"]),
        "piped\n"
    );
    // Missing paths and containers.
    let o = e.berth.run(&[
        "cp",
        &format!("{c}:/no/such/file"),
        e.work.path().to_str().unwrap(),
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("Could not find the file /no/such/file"),
        "{o:?}"
    );
    let o = e
        .berth
        .run(&["cp", "/etc/hostname", "nosuch-container:/tmp"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("No such container"), "{o:?}");
    let o = e.berth.run(&["cp", "/etc/hostname", "/tmp/x"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("must specify at least one container"),
        "{o:?}"
    );
    e.berth.ok(&["rm", "-f", &c]);
}
