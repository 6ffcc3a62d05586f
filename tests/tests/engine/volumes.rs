//! Volumes through the real docker CLI against berthd: named volumes whose data outlives
//! containers and engine restarts (also kill -9), in-use protection, bind mounts (`:ro`
//! refuses writes), copy-up of an image's `VOLUME` content, anonymous volumes removed with
//! `rm -v` and `--rm`, `--volumes-from`, tmpfs mounts and tmpfs/bind volumes, events and
//! disk usage; and bad input over the raw API, which gets dockerd's answers and leaves
//! nothing behind.

use std::os::unix::fs::MetadataExt;

use berth_tests::berthd::Berthd;
use berth_tests::require;
use berth_tests::volumes::{mounted_below, volume_dirs, volume_image, VOLUME_IMAGE};
use serde_json::{json, Value};

fn load_volume_image(b: &Berthd) {
    let archive = volume_image(b.dir.path());
    let out = b.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains(VOLUME_IMAGE), "docker load printed: {out}");
}

fn inspect(b: &Berthd, what: &str, name: &str) -> Value {
    let out = b.docker_ok(&[what, "inspect", name]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

fn volume_names(b: &Berthd, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    b.docker_ok(&args).lines().map(str::to_string).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (c as char).to_string(),
            _ => format!("%{c:02X}"),
        })
        .collect()
}

fn post_json(b: &Berthd, path: &str, body: &Value) -> berth_tests::berthd::Response {
    b.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[test]
fn named_volume_data_outlives_containers_and_engine_restarts() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    assert_eq!(
        b.docker_ok(&["volume", "create", "--label", "app=db", "keep"]),
        "keep\n"
    );
    let v = inspect(&b, "volume", "keep");
    let mountpoint = b.data_root().join("volumes/keep/_data");
    assert_eq!(v["Name"], "keep");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"], json!({"app": "db"}));
    assert_eq!(v["Mountpoint"], mountpoint.display().to_string());
    let created = v["CreatedAt"].as_str().unwrap();
    assert!(
        created.len() >= 20 && &created[10..11] == "T" && !created.contains('.'),
        "RFC 3339 with seconds: {created}"
    );
    // Creating it again with the same options is the same volume.
    assert_eq!(b.docker_ok(&["volume", "create", "keep"]), "keep\n");

    // Events tell a volume's story.
    let since = now();
    b.docker_ok(&["volume", "create", "evts"]);
    b.docker_ok(&["run", "--rm", "-v", "evts:/e", "busybox", "true"]);
    b.docker_ok(&["volume", "rm", "evts"]);
    let filters = r#"{"type":["volume"],"volume":["evts"]}"#;
    let r = b.request(
        "GET",
        &format!(
            "/events?since={since}&until={}&filters={}",
            now() + 1,
            urlencode(filters)
        ),
        &[],
        b"",
    );
    let actions: Vec<String> = r
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["Action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(actions, ["create", "mount", "unmount", "destroy"]);

    b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/d",
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ]);
    b.docker_ok(&[
        "run", "--name", "writer", "-v", "keep:/d", "busybox", "true",
    ]);
    b.docker_ok(&["rm", "writer"]);
    let read =
        |b: &Berthd| b.docker_ok(&["run", "--rm", "-v", "keep:/d", "busybox", "cat", "/d/f"]);
    assert_eq!(read(&b), "kept\n");

    // A stopped engine, then a killed one: the volume and its data are still there.
    b.stop();
    b.restart();
    assert_eq!(read(&b), "kept\n");
    assert_eq!(
        inspect(&b, "volume", "keep")["Labels"],
        json!({"app": "db"})
    );
    b.docker_ok(&[
        "run", "-d", "--name", "user", "-v", "keep:/d", "busybox", "sleep", "300",
    ]);
    b.restart();
    assert_eq!(read(&b), "kept\n");

    // In use by a running container, then by a stopped one: not removable.
    assert_eq!(volume_names(&b, &["dangling=false"]), ["keep"]);
    assert!(volume_names(&b, &["dangling=true"]).is_empty());
    let (code, _, err) = b.docker_run(&["volume", "rm", "keep"]);
    assert_ne!(code, 0);
    let id = inspect(&b, "container", "user")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        err.trim(),
        format!("Error response from daemon: remove keep: volume is in use - [{id}]")
    );
    let r = b.request("DELETE", "/volumes/keep?force=1", &[], b"");
    assert_eq!(r.status, 409, "force does not take a volume from its users");
    b.docker_ok(&["stop", "-t", "0", "user"]);
    assert_eq!(b.request("DELETE", "/volumes/keep", &[], b"").status, 409);
    b.docker_ok(&["rm", "user"]);

    // Filters.
    assert_eq!(volume_names(&b, &["label=app=db"]), ["keep"]);
    assert_eq!(volume_names(&b, &["name=ee"]), ["keep"]);
    assert!(volume_names(&b, &["label=app=web"]).is_empty());
    assert_eq!(
        volume_names(&b, &["dangling=true", "driver=local"]),
        ["keep"]
    );

    // Disk usage counts it.
    b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/d",
        "busybox",
        "sh",
        "-c",
        "head -c 1000 /dev/zero > /d/z",
    ]);
    let df = b.request("GET", "/system/df", &[], b"").json();
    let vol = df["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "keep")
        .unwrap()
        .clone();
    assert_eq!(vol["UsageData"], json!({"Size": 1005, "RefCount": 0}));
    let df_text = b.docker_ok(&["system", "df"]);
    assert!(
        df_text
            .lines()
            .any(|l| l.starts_with("Local Volumes") && l.contains(" 1 ")),
        "{df_text}"
    );
    assert_eq!(b.docker_ok(&["volume", "rm", "keep"]), "keep\n");
    assert!(!mountpoint.exists());
    assert!(volume_dirs(&b.data_root()).is_empty(), "no debris");
}

#[test]
fn bind_mounts_read_only_read_write_and_missing_sources() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let host = b.dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let h = host.display().to_string();

    // :ro refuses writes from inside (EROFS), and the host file is untouched.
    let (code, out, err) = b.docker_run(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/h:ro,z"),
        "busybox",
        "sh",
        "-c",
        "cat /h/in; echo x > /h/in",
    ]);
    assert_ne!(code, 0);
    assert_eq!(out, "from the host\n");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(
        std::fs::read_to_string(host.join("in")).unwrap(),
        "from the host\n"
    );
    // --mount readonly does the same.
    let (code, _, err) = b.docker_run(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={h},dst=/h,readonly"),
        "busybox",
        "touch",
        "/h/x",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");

    // Read-write (with a propagation mode and Z) writes through to the host.
    b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/h:rw,Z,rslave"),
        "busybox",
        "sh",
        "-c",
        "echo w > /h/out",
    ]);
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "w\n");

    // A missing source is made with -v, refused with --mount.
    let made = b.dir.path().join("made/deep");
    b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", made.display()),
        "busybox",
        "true",
    ]);
    assert!(made.is_dir());
    let missing = b.dir.path().join("missing");
    let (code, _, err) = b.docker_run(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,source={},target=/m", missing.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(
        err.contains(&format!(
            "invalid mount config for type \"bind\": bind mount source path does not exist: {}",
            missing.display()
        )),
        "{err}"
    );
    assert!(!missing.exists());

    // Inspect shows the mounts as dockerd does (not --tmpfs ones).
    b.docker_ok(&[
        "create",
        "--name",
        "shown",
        "-v",
        &format!("{h}:/h:ro"),
        "--mount",
        "type=tmpfs,dst=/t",
        "--tmpfs",
        "/scratch",
        "-v",
        "named1:/n",
        "busybox",
    ]);
    let mounts = inspect(&b, "container", "shown")["Mounts"].clone();
    let by_dest = |d: &str| {
        mounts
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Destination"] == d)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        by_dest("/h"),
        json!({"Type": "bind", "Source": h, "Destination": "/h", "Mode": "ro", "RW": false, "Propagation": "rprivate"})
    );
    assert_eq!(
        by_dest("/t"),
        json!({"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": true, "Propagation": ""})
    );
    assert_eq!(
        by_dest("/n"),
        json!({"Type": "volume", "Name": "named1", "Source": b.data_root().join("volumes/named1/_data").display().to_string(),
               "Destination": "/n", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""})
    );
    assert_eq!(mounts.as_array().unwrap().len(), 3, "{mounts}");
    // ps filters by volume name or destination.
    assert_eq!(
        b.docker_ok(&[
            "ps",
            "-a",
            "--filter",
            "volume=named1",
            "--format",
            "{{.Names}}"
        ]),
        "shown\n"
    );
    assert_eq!(
        b.docker_ok(&[
            "ps",
            "-a",
            "--filter",
            "volume=/h",
            "--format",
            "{{.Names}}"
        ]),
        "shown\n"
    );
    b.docker_ok(&["rm", "shown"]);
    b.docker_ok(&["volume", "rm", "named1"]);
}

#[test]
fn image_volumes_are_copied_up_and_anonymous_volumes_go_with_their_container() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    load_volume_image(&b);
    // The image's VOLUME gets an anonymous volume filled with the image's content, its
    // owner, modes and symlinks; --rm removes that volume.
    let out = b.docker_ok(&[
        "run",
        "--rm",
        VOLUME_IMAGE,
        "sh",
        "-c",
        "stat -c '%u:%g %a' /data /data/hello; cat /data/hello; readlink /data/sub/link",
    ]);
    assert_eq!(
        out,
        "1000:1000 750\n1000:1000 640\nfrom the image\n../hello\n"
    );
    assert!(
        volume_names(&b, &[]).is_empty(),
        "--rm removes anonymous volumes"
    );

    // Mount points behind the image's symlinks are made inside the container's root, never
    // on the host path the symlink names.
    let outside = b.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "esc:/escape/inner",
        "-v",
        "/escape/anon",
        VOLUME_IMAGE,
        "true",
    ]);
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing made on the host"
    );
    b.docker_ok(&["volume", "rm", "esc"]);

    // Kept with the container until rm -v.
    b.docker_ok(&["run", "--name", "keep", VOLUME_IMAGE, "true"]);
    let mounts = inspect(&b, "container", "keep")["Mounts"].clone();
    let m = &mounts[0];
    let name = m["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert_eq!(
        m,
        &json!({"Type": "volume", "Name": name, "Source": b.data_root().join("volumes").join(&name).join("_data").display().to_string(),
                "Destination": "/data", "Driver": "local", "Mode": "", "RW": true, "Propagation": ""})
    );
    assert_eq!(
        inspect(&b, "volume", &name)["Labels"],
        json!({"com.docker.volume.anonymous": ""})
    );
    let data = b.data_root().join("volumes").join(&name).join("_data");
    let meta = std::fs::metadata(data.join("hello")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (1000, 0o640));
    b.docker_ok(&["rm", "-v", "keep"]);
    assert!(volume_names(&b, &[]).is_empty(), "rm -v removes it");
    // Without -v it stays, dangling.
    b.docker_ok(&["run", "--name", "keep2", VOLUME_IMAGE, "true"]);
    b.docker_ok(&["rm", "keep2"]);
    let left = volume_names(&b, &["dangling=true"]);
    assert_eq!(left.len(), 1);
    // volume prune takes anonymous volumes (and only those, without --all).
    b.docker_ok(&["volume", "create", "named-stays"]);
    let out = b.docker_ok(&["volume", "prune", "-f"]);
    assert!(
        out.contains(&left[0]) && out.contains("Total reclaimed space: 23B"),
        "{out}"
    );
    assert_eq!(volume_names(&b, &[]), ["named-stays"]);
    let out = b.docker_ok(&["volume", "prune", "-af"]);
    assert!(out.contains("named-stays"), "{out}");

    // A named volume is filled once; later containers see what was written.
    b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "filled:/data",
        VOLUME_IMAGE,
        "sh",
        "-c",
        "echo changed > /data/hello",
    ]);
    assert_eq!(
        b.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "filled:/data",
            VOLUME_IMAGE,
            "cat",
            "/data/hello"
        ]),
        "changed\n"
    );
    // nocopy (-v and --mount) leaves a new volume empty.
    assert_eq!(
        b.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "empty1:/data:nocopy",
            VOLUME_IMAGE,
            "ls",
            "-A",
            "/data"
        ]),
        ""
    );
    assert_eq!(
        b.docker_ok(&[
            "run",
            "--rm",
            "--mount",
            "src=empty2,dst=/data,volume-nocopy",
            VOLUME_IMAGE,
            "ls",
            "-A",
            "/data"
        ]),
        ""
    );
    // -v /path makes an anonymous volume filled from the image there.
    assert_eq!(
        b.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "/etc",
            "busybox",
            "grep",
            "-c",
            "root",
            "/etc/passwd"
        ]),
        "1\n"
    );

    // --volumes-from takes the other container's mounts (read-only with :ro).
    b.docker_ok(&[
        "run",
        "--name",
        "src",
        VOLUME_IMAGE,
        "sh",
        "-c",
        "echo shared > /data/new",
    ]);
    let (code, out, err) = b.docker_run(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/new; touch /data/x",
    ]);
    assert_ne!(code, 0);
    assert_eq!(out, "shared\n");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(
        b.docker_ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "src",
            "busybox",
            "sh",
            "-c",
            "echo more >> /data/new; cat /data/new"
        ]),
        "shared\nmore\n"
    );
    // The anonymous volume is shared: the --volumes-from container's rm -v leaves it.
    b.docker_ok(&[
        "create",
        "--name",
        "borrower",
        "--volumes-from",
        "src",
        "busybox",
    ]);
    b.docker_ok(&["rm", "-v", "borrower"]);
    assert_eq!(volume_names(&b, &["dangling=false"]).len(), 1);
    b.docker_ok(&["rm", "-v", "src"]);
    for v in ["filled", "empty1", "empty2"] {
        b.docker_ok(&["volume", "rm", v]);
    }
    assert!(volume_names(&b, &[]).is_empty());
    assert!(volume_dirs(&b.data_root()).is_empty(), "no debris");
}

#[test]
fn tmpfs_mounts_and_volumes_with_mount_options() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let out = b.docker_ok(&[
        "run", "--rm", "--tmpfs", "/t:size=1m", "--mount", "type=tmpfs,dst=/u,tmpfs-size=2m,tmpfs-mode=1770",
        "busybox", "sh", "-c", "grep -E ' /(t|u) ' /proc/mounts | cut -d' ' -f1-3; stat -c %a /u; df -k /t /u | tail -2 | tr -s ' ' | cut -d' ' -f2",
    ]);
    assert_eq!(out, "tmpfs /t tmpfs\ntmpfs /u tmpfs\n1770\n1024\n2048\n");

    // A tmpfs volume: mounted while a container uses it, gone with the last user.
    b.docker_ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=3m,mode=0700",
        "tv",
    ]);
    assert_eq!(
        inspect(&b, "volume", "tv")["Options"],
        json!({"type": "tmpfs", "device": "tmpfs", "o": "size=3m,mode=0700"})
    );
    let dir = b.data_root().join("volumes/tv");
    assert!(!mounted_below(&dir));
    b.docker_ok(&[
        "run", "-d", "--name", "t1", "-v", "tv:/v", "busybox", "sleep", "300",
    ]);
    assert!(mounted_below(&dir));
    assert_eq!(
        b.docker_ok(&[
            "exec",
            "t1",
            "sh",
            "-c",
            "df -k /v | tail -1 | tr -s ' ' | cut -d' ' -f2"
        ]),
        "3072\n"
    );
    b.docker_ok(&["exec", "t1", "sh", "-c", "echo in-tmpfs > /v/f"]);
    // A second user shares the mount.
    assert_eq!(
        b.docker_ok(&["run", "--rm", "-v", "tv:/v", "busybox", "cat", "/v/f"]),
        "in-tmpfs\n"
    );
    assert!(mounted_below(&dir), "still used by t1");
    b.docker_ok(&["rm", "-f", "t1"]);
    assert!(!mounted_below(&dir), "unmounted with its last user");
    b.docker_ok(&["volume", "rm", "tv"]);

    // A bind volume (type=none,o=bind) shows a host directory.
    let host = b.dir.path().join("bound");
    std::fs::create_dir(&host).unwrap();
    b.docker_ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &format!("device={}", host.display()),
        "hv",
    ]);
    b.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "hv:/v",
        "busybox",
        "sh",
        "-c",
        "echo through > /v/f",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("f")).unwrap(),
        "through\n"
    );
    assert!(!mounted_below(&b.data_root().join("volumes/hv")));
    b.docker_ok(&["volume", "rm", "hv"]);
    assert_eq!(
        std::fs::read_to_string(host.join("f")).unwrap(),
        "through\n",
        "removing the volume keeps the host's files"
    );

    // Bad options are refused at create.
    for (opts, want) in [
        (
            vec!["-o", "type=none", "-o", "device=/tmp"],
            "without o=bind",
        ),
        (
            vec!["-o", "type=tmpfs"],
            "missing required option: \"device\"",
        ),
        (
            vec!["-o", "size=10m"],
            "quota size requested but no quota support",
        ),
        (vec!["-o", "colour=blue"], "invalid option: \"colour\""),
    ] {
        let mut args = vec!["volume", "create"];
        args.extend(opts);
        args.push("badopts");
        let (code, _, err) = b.docker_run(&args);
        assert_ne!(code, 0);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(volume_dirs(&b.data_root()).is_empty(), "no debris");
}

#[test]
fn bad_volume_requests_get_dockerds_answers_and_leave_nothing() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let cases: &[(&str, Value, u16, &str)] = &[
        (
            "/volumes/create",
            json!({"Name": "a/b"}),
            400,
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path",
        ),
        ("/volumes/create", json!({"Name": "x"}), 400, "includes invalid characters"),
        ("/volumes/create", json!({"Name": "x1", "DriverOpts": {"foo": "bar"}}), 400, "invalid option: \"foo\""),
        ("/volumes/create", json!({"Name": "x2", "Driver": "nfs-plugin"}), 404, "plugin \"nfs-plugin\" not found"),
        ("/volumes/create", json!({"Name": "x3", "DriverOpts": {"type": "tmpfs"}}), 400, "missing required option: \"device\""),
        ("/volumes/create", json!({"Name": 3}), 400, "invalid JSON"),
        (
            "/containers/create",
            json!({"Image": "busybox", "HostConfig": {"Binds": ["./rel:/x"]}}),
            400,
            "create ./rel: \"./rel\" includes invalid characters for a local volume name",
        ),
        ("/containers/create", json!({"Image": "busybox", "HostConfig": {"Binds": ["/x:/a:bogus"]}}), 400, "invalid mode: bogus"),
        ("/containers/create", json!({"Image": "busybox", "HostConfig": {"Binds": ["/x:rel"]}}), 400, "invalid volume specification: '/x:rel'"),
        ("/containers/create", json!({"Image": "busybox", "HostConfig": {"Binds": ["/x:/"]}}), 400, "destination can't be '/'"),
        ("/containers/create", json!({"Image": "busybox", "HostConfig": {"Binds": ["vol1:/a", "/tmp:/a"]}}), 400, "Duplicate mount point: /a"),
        (
            "/containers/create",
            json!({"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "volume", "Source": "vol2", "Target": "/x", "BindOptions": {"Propagation": "shared"}}]}}),
            400,
            "invalid mount config for type \"volume\": field BindOptions must not be specified",
        ),
        (
            "/containers/create",
            json!({"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "volume", "Source": "vol3", "Target": "/x", "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"foo": "1"}}}}]}}),
            400,
            "invalid option: \"foo\"",
        ),
        ("/containers/create", json!({"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "nfs", "Target": "/x"}]}}), 400, "mount type unknown"),
        // A request naming a missing container: 400, as dockerd answers (refusals.rs checks it).
        ("/containers/create", json!({"Image": "busybox", "HostConfig": {"VolumesFrom": ["nosuch"]}}), 400, "No such container: nosuch"),
        ("/containers/create", json!({"Image": "busybox", "HostConfig": {"VolumesFrom": ["x:rshared"]}}), 400, "invalid mode: rshared"),
        // Volumes made by a create that fails later go again.
        (
            "/containers/create",
            json!({"Image": "busybox", "Volumes": {"/anon": {}}, "HostConfig": {"Binds": ["vol4:/x"], "Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}}),
            400,
            "invalid ulimit type: bogus",
        ),
    ];
    for (path, body, status, want) in cases {
        let r = post_json(&b, path, body);
        assert_eq!(r.status, *status, "{path} {body}: {}", r.text());
        assert!(
            r.message().contains(want),
            "{path} {body}: {:?} lacks {want:?}",
            r.message()
        );
    }
    for (method, path, status, want) in [
        ("GET", "/volumes/nosuch", 404, "get nosuch: no such volume"),
        (
            "DELETE",
            "/volumes/nosuch",
            404,
            "get nosuch: no such volume",
        ),
        (
            "GET",
            "/volumes?filters=%7B%22colour%22%3A%5B%22x%22%5D%7D",
            400,
            "invalid filter 'colour'",
        ),
        (
            "GET",
            "/volumes?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D",
            400,
            "invalid filter 'dangling=maybe'",
        ),
        (
            "POST",
            "/volumes/prune?filters=%7B%22all%22%3A%5B%22maybe%22%5D%7D",
            400,
            "invalid filter 'all'",
        ),
        (
            "POST",
            "/volumes/prune?filters=%7B%22until%22%3A%5B%221h%22%5D%7D",
            400,
            "invalid filter 'until'",
        ),
    ] {
        let r = b.request(method, path, &[], b"");
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert!(
            r.message().starts_with(want),
            "{method} {path}: {}",
            r.message()
        );
    }
    assert_eq!(
        b.request("DELETE", "/volumes/nosuch?force=1", &[], b"")
            .status,
        204
    );
    // Creating a volume again with other options is a conflict, not a silent no-op.
    assert_eq!(
        post_json(&b, "/volumes/create", &json!({"Name": "same"})).status,
        201
    );
    let r = post_json(
        &b,
        "/volumes/create",
        &json!({"Name": "same", "DriverOpts": {"type": "tmpfs", "device": "tmpfs"}}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = post_json(&b, "/volumes/create", &json!({"Name": "same"}));
    assert_eq!((r.status, r.json()["Name"].as_str()), (201, Some("same")));
    assert_eq!(b.request("DELETE", "/volumes/same", &[], b"").status, 204);

    let list = b.request("GET", "/volumes", &[], b"").json();
    assert_eq!(
        list["Volumes"],
        json!([]),
        "no volume from refused requests"
    );
    assert!(
        volume_dirs(&b.data_root()).is_empty(),
        "no debris: {:?}",
        volume_dirs(&b.data_root())
    );
    let containers = b.request("GET", "/containers/json?all=1", &[], b"").json();
    assert_eq!(containers, json!([]));
}
