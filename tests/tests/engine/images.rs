//! Images through the docker CLI against berthd, with a real registry on loopback: pull,
//! push, tag, rmi and its conflicts, save/load, history, prune, login.

use berth_tests::berthd::Berthd;
use berth_tests::registry::{Auth, Options, Registry};
use berth_tests::require;

fn small_image() -> berth_tests::images::Image {
    berth_tests::images::build_image(&[berth_tests::images::busybox_layer()], None)
}

#[test]
fn pull_tag_push_and_remove() {
    require!(root, docker_cli, docker_registry);
    let b = Berthd::start();
    let reg = Registry::start();
    reg.push_image(&small_image(), "bb:1");
    let name = format!("{}/bb:1", reg.host());
    let out = b.docker_ok(&["pull", &name]);
    assert!(out.contains("1: Pulling from bb"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    let again = b.docker_ok(&["pull", &name]);
    assert!(again.contains("Image is up to date"), "{again}");
    let list = b.docker_ok(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"]);
    assert!(list.starts_with(&format!("{}/bb 1 ", reg.host())), "{list}");
    let id = b
        .docker_ok(&["image", "inspect", "-f", "{{.Id}}", &name])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"));
    // Short ids and prefixes resolve.
    assert_eq!(
        b.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &id[7..19]])
            .trim(),
        id
    );
    let digests = b.docker_ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]);
    assert!(digests.contains(&reg.manifest_digest("bb:1")), "{digests}");
    assert!(b.docker_ok(&["history", &name]).contains("IMAGE"));

    // Tag and push under another name; the registry then serves it.
    let pushed = format!("{}/pushed:v2", reg.host());
    b.docker_ok(&["tag", &name, &pushed]);
    let out = b.docker_ok(&["push", &pushed]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/pushed]",
            reg.host()
        )),
        "{out}"
    );
    assert!(out.contains("v2: digest: sha256:"), "{out}");
    assert!(reg.manifest_digest("pushed:v2").starts_with("sha256:"));

    // rmi: by name untags; a container using the last name blocks removal unless forced;
    // a running one blocks even a forced removal.
    b.docker_ok(&["rmi", &pushed]);
    b.docker_ok(&["create", "--name", "user", &name, "true"]);
    let (code, _, err) = b.docker_run(&["rmi", &name]);
    assert_ne!(code, 0);
    assert!(
        err.contains("container") && err.contains("is using its referenced image"),
        "{err}"
    );
    b.docker_ok(&["run", "-d", "--name", "runner", &name, "sleep", "60"]);
    let (code, _, err) = b.docker_run(&["rmi", "-f", &name]);
    assert_ne!(code, 0);
    assert!(
        err.contains("image is being used by running container"),
        "{err}"
    );
    b.docker_ok(&["rm", "-f", "runner", "user"]);
    // By id with two names: must be forced.
    b.docker_ok(&["tag", &name, "local/other:x"]);
    let (code, _, err) = b.docker_run(&["rmi", &id[7..19]]);
    assert_ne!(code, 0);
    assert!(
        err.contains("must be forced") && err.contains("referenced in multiple repositories"),
        "{err}"
    );
    let out = b.docker_ok(&["rmi", "-f", &id[7..19]]);
    assert!(
        out.contains("Untagged: local/other:x") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert_eq!(b.docker_ok(&["images", "-q"]), "");
    // A missing image is docker's error, and leaves nothing.
    let (code, _, err) = b.docker_run(&["pull", &format!("{}/nope:1", reg.host())]);
    assert_ne!(code, 0);
    assert!(!err.is_empty());
    assert_eq!(b.docker_ok(&["images", "-q"]), "");
    let (code, _, err) = b.docker_run(&["rmi", "nope:1"]);
    assert_ne!(code, 0);
    assert!(err.contains("No such image: nope:1"), "{err}");
}

#[test]
fn save_load_and_prune() {
    require!(root, docker_cli, docker_registry);
    let b = Berthd::start();
    b.load_busybox();
    b.docker_ok(&["tag", "busybox", "copy:1"]);
    let tar = b.dir.path().join("saved.tar");
    b.docker_ok(&["save", "-o", tar.to_str().unwrap(), "busybox", "copy:1"]);
    assert!(std::fs::metadata(&tar).unwrap().len() > 1 << 20);
    b.docker_ok(&["rmi", "busybox", "copy:1"]);
    assert_eq!(b.docker_ok(&["images", "-q"]), "");
    let out = b.docker_ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(
        out.contains("Loaded image: busybox:latest") && out.contains("Loaded image: copy:1"),
        "{out}"
    );
    assert_eq!(
        b.docker_ok(&["run", "--rm", "copy:1", "echo", "loaded"]),
        "loaded\n"
    );
    // prune -a removes what no container uses.
    b.docker_ok(&["create", "--name", "keep", "busybox", "true"]);
    let reg = Registry::start();
    reg.push_image(
        &berth_tests::images::build_image(
            &[berth_tests::images::layer_tar(&[
                berth_tests::images::Entry::File("x", b"x"),
            ])],
            None,
        ),
        "unused:1",
    );
    b.docker_ok(&["pull", &format!("{}/unused:1", reg.host())]);
    let out = b.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("unused:1"), "{out}");
    let left = b.docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert!(
        left.contains("busybox") && !left.contains("unused"),
        "{left}"
    );
    b.docker_ok(&["rm", "keep"]);
    // A corrupt archive is refused with the reason, small or large (a large one is read
    // to its end before the answer, so the client sees the error, not a cut connection).
    let bad = b.dir.path().join("bad.tar");
    for size in [16, 8 << 20] {
        std::fs::write(&bad, vec![b'x'; size]).unwrap();
        let (code, _, err) = b.docker_run(&["load", "-i", bad.to_str().unwrap()]);
        assert_ne!(code, 0);
        assert!(err.contains("reading the archive"), "{size} bytes: {err}");
    }
}

#[test]
fn login_checks_credentials_against_the_registry() {
    require!(root, docker_cli, docker_registry, htpasswd);
    let b = Berthd::start();
    let reg = Registry::start_with(Options {
        auth: Auth::Basic("alice".into(), "s3cret".into()),
        ..Default::default()
    });
    reg.push_image(&small_image(), "private:1");
    let (code, _, err) = b.docker_run(&["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert_ne!(code, 0);
    assert!(err.contains("401"), "{err}");
    let name = format!("{}/private:1", reg.host());
    let (code, _, _) = b.docker_run(&["pull", &name]);
    assert_ne!(code, 0, "pulled without credentials");
    let (code, out, err) = b.docker_run(&["login", "-u", "alice", "-p", "s3cret", &reg.host()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Login Succeeded"), "{out}");
    // The CLI now sends the stored credentials with pull and push.
    b.docker_ok(&["pull", &name]);
    b.docker_ok(&["tag", &name, &format!("{}/private:2", reg.host())]);
    b.docker_ok(&["push", &format!("{}/private:2", reg.host())]);
    b.docker_ok(&["logout", &reg.host()]);
}

#[test]
fn fifo_and_device_layers_load_and_run_as_on_dockerd() {
    use berth_tests::images::{busybox_layer, docker_archive, layer_tar, Entry};
    require!(root, docker_cli, dockerd);
    let b = Berthd::start();
    let hostile = layer_tar(&[
        Entry::Dir("data"),
        Entry::Fifo("data/pipe"),
        Entry::File("data/f", b"f"),
        Entry::CharDevice("mem", 1, 1),
    ]);
    let archive = b.dir.path().join("fifo.tar");
    std::fs::write(
        &archive,
        docker_archive(&[busybox_layer(), hostile], "hostile/fifo:latest"),
    )
    .unwrap();
    let archive = archive.to_str().unwrap();
    // The types are kept; the device cgroup still keeps the container off /dev/mem.
    let script = "test -p /data/pipe && test -c /mem && echo types-ok; cat /mem 2>&1 | head -c 100";
    b.docker_ok(&["load", "-i", archive]);
    let ours = b.docker_ok(&["run", "--rm", "hostile/fifo", "sh", "-c", script]);
    assert!(
        ours.starts_with("types-ok\n") && ours.contains("Operation not permitted"),
        "{ours}"
    );
    // Copy-up into a new volume makes the FIFO anew (opening it would hang the create).
    let vol = berth_tests::unique("fifovol");
    let out = b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        "hostile/fifo",
        "sh",
        "-c",
        "test -p /data/pipe && cat /data/f",
    ]);
    assert_eq!(out, "f");
    b.docker_ok(&["volume", "rm", &vol]);
    // docker cp out of a container archives the FIFO as a FIFO.
    let name = berth_tests::unique("fifocp");
    b.docker_ok(&["create", "--name", &name, "hostile/fifo"]);
    let dest = b.dir.path().join("cp-out");
    std::fs::create_dir_all(&dest).unwrap();
    b.docker_ok(&["cp", &format!("{name}:/data"), dest.to_str().unwrap()]);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(dest.join("data/pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    // docker cp into it replaces the FIFO without opening it.
    let src = b.dir.path().join("cp-in");
    std::fs::write(&src, "in").unwrap();
    b.docker_ok(&["cp", src.to_str().unwrap(), &format!("{name}:/data/pipe")]);
    b.docker_ok(&["cp", &format!("{name}:/data/pipe"), dest.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dest.join("pipe")).unwrap(), "in");
    b.docker_ok(&["rm", &name]);

    let d = berth_tests::dockerd::Dockerd::start().expect("dockerd is installed but did not start");
    let dockerd = d.cli();
    dockerd.ok(&["load", "-i", archive]);
    let theirs = dockerd.ok(&["run", "--rm", "hostile/fifo", "sh", "-c", script]);
    eprintln!("dockerd answers as berthd does: {theirs:?}");
    assert_eq!(ours, theirs, "berthd and dockerd differ");
}
