//! `berth volume ...` and the volume flags of `berth run` against a real daemon (berthd,
//! and Debian's dockerd to show the CLI behaves the same with Docker's own daemon).

use berth_tests::cli::Engine;
use berth_tests::unique;

berth_tests::cli_scenarios!(
    create_ls_inspect_rm_prune,
    run_with_volumes_binds_and_tmpfs,
    bad_volume_flags_exit_125,
);

fn create_ls_inspect_rm_prune(e: &Engine) {
    let b = &e.berth;
    let name = unique("vol");
    let team = unique("team");
    let created = b.ok(&[
        "volume",
        "create",
        "--label",
        &format!("team={team}"),
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        &name,
    ]);
    assert_eq!(created, format!("{name}\n"));
    let table = b.ok(&["volume", "ls", "--filter", &format!("name={name}")]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["DRIVER", "VOLUME", "NAME"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["local", name.as_str()]
    );
    assert_eq!(
        b.ok(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=team={team}")
        ]),
        format!("{name}\n")
    );
    assert_eq!(
        b.ok(&[
            "volume",
            "ls",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}}"
        ]),
        format!("{name} local team={team}\n")
    );
    assert_eq!(
        b.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Options.type}} {{.Scope}}",
            &name
        ]),
        format!("{name} local tmpfs local\n")
    );
    let j: serde_json::Value =
        serde_json::from_str(&b.ok(&["inspect", "--type", "volume", &name])).unwrap();
    assert_eq!(j[0]["Labels"]["team"], team.as_str());
    assert!(
        j[0]["Mountpoint"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/volumes/{name}/_data")),
        "{j}"
    );

    assert_eq!(b.ok(&["volume", "rm", &name]), format!("{name}\n"));
    let o = b.run(&["volume", "rm", &name]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("no such volume"), "{o:?}");
    assert_eq!(b.run(&["volume", "rm", "-f", &name]).code, 0);
    let o = b.run(&["volume", "inspect", &name]);
    assert_eq!(o.code, 1, "{o:?}");

    // Without a name: a generated one. Prune takes it (it is not used).
    let anon = b.ok(&["volume", "create", "--label", &format!("t={team}")]);
    let anon = anon.trim();
    assert_eq!(anon.len(), 64, "{anon}");
    let out = b.ok(&[
        "volume",
        "prune",
        "-f",
        "--filter",
        &format!("label=t={team}"),
    ]);
    assert_eq!(
        out,
        format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n")
    );
    assert_eq!(
        b.ok(&["volume", "ls", "-q", "--filter", &format!("label=t={team}")]),
        ""
    );
}

fn run_with_volumes_binds_and_tmpfs(e: &Engine) {
    let b = &e.berth;
    let vol = unique("data");
    b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/d"),
        "busybox",
        "sh",
        "-c",
        "echo hi > /d/f",
    ]);
    let o = b.run(&[
        "run",
        "--rm",
        "--mount",
        &format!("source={vol},target=/d,readonly"),
        "busybox",
        "sh",
        "-c",
        "cat /d/f; touch /d/g",
    ]);
    assert_ne!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "hi\n");
    assert!(o.stderr.contains("Read-only file system"), "{o:?}");

    let holder = unique("holder");
    b.ok(&[
        "create",
        "--name",
        &holder,
        "-v",
        &format!("{vol}:/d"),
        "busybox",
    ]);
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            &format!("{holder}:ro"),
            "busybox",
            "cat",
            "/d/f"
        ]),
        "hi\n"
    );
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
            &holder
        ]),
        format!("volume {vol} /d true\n")
    );
    let o = b.run(&["volume", "rm", &vol]);
    assert_eq!(o.code, 1, "in use by {holder}: {o:?}");
    assert!(o.stderr.contains("volume is in use"), "{o:?}");
    // rm -v keeps named volumes.
    b.ok(&["rm", "-v", &holder]);
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/d"),
            "busybox",
            "cat",
            "/d/f"
        ]),
        "hi\n"
    );
    b.ok(&["volume", "rm", &vol]);

    // -v with a relative host path binds it from the current directory.
    let dir = unique("rel");
    let mut cmd = b.cmd(&[
        "run",
        "--rm",
        "-v",
        &format!("./{dir}:/r"),
        "busybox",
        "sh",
        "-c",
        "echo here > /r/f",
    ]);
    let out = cmd.current_dir(e.work.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(e.work.path().join(&dir).join("f")).unwrap(),
        "here\n"
    );

    // tmpfs two ways.
    let out = b.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "--mount",
        "type=tmpfs,target=/u,tmpfs-size=2m",
        "busybox",
        "sh",
        "-c",
        "df -k /t /u | tail -2 | tr -s ' ' | cut -d' ' -f2",
    ]);
    assert_eq!(out, "1024\n2048\n");
    // An anonymous volume goes with --rm.
    let before = b.ok(&["volume", "ls", "-q"]);
    b.ok(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), before);
}

fn bad_volume_flags_exit_125(e: &Engine) {
    let b = &e.berth;
    for (flag, want) in [
        ("type=bind,src=/x", "target is required"),
        (
            "type=bind,src=/x,dst=/y,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        (
            "dst=/y,colour=blue",
            "unexpected key 'colour' in 'colour=blue'",
        ),
    ] {
        let o = b.run(&["run", "--rm", "--mount", flag, "busybox", "true"]);
        assert_eq!(o.code, 125, "{flag}: {o:?}");
        assert!(
            o.stderr.contains(&format!(
                "invalid argument \"{flag}\" for \"--mount\" flag: {want}"
            )),
            "{o:?}"
        );
    }
    // The daemon's own refusals are exit 125 too.
    let o = b.run(&["run", "--rm", "-v", "/x:/y:bogus", "busybox", "true"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("invalid mode: bogus"), "{o:?}");
    let o = b.run(&[
        "run",
        "--rm",
        "--volumes-from",
        &unique("nosuch"),
        "busybox",
        "true",
    ]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("No such container"), "{o:?}");
    let o = b.run(&["volume", "create", "-o", "colour=blue", &unique("bad")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("colour"), "{o:?}");
}
