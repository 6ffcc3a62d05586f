//! `berth` image commands against a real daemon and a loopback registry: load, images,
//! tag, history, push and pull (with credentials stored by login), save/load round trip,
//! rmi, prune and disk usage.

use std::os::unix::fs::PermissionsExt;

use berth_tests::cli::Engine;
use berth_tests::registry::Registry;
use berth_tests::unique;

berth_tests::cli_scenarios!(
    images_list_in_docker_formats,
    push_pull_through_a_loopback_registry,
    save_and_load_round_trip,
    login_and_logout_keep_credentials_private,
    disk_usage_and_prune,
);

fn images_list_in_docker_formats(e: &Engine) {
    let table = e.berth.ok(&["images"]);
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[..2], ["busybox", "latest"], "{table}");
    assert_eq!(row[2].len(), 12, "short image id: {table}");
    assert_eq!(
        e.berth
            .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
    let json = e.berth.ok(&["image", "ls", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Repository"], "busybox");
    let id = e.berth.ok(&["images", "-q"]);
    assert_eq!(id.trim().len(), 12);
    assert_eq!(
        e.berth.ok(&["images", "-q", "--no-trunc"]).trim().len(),
        71,
        "sha256:<64 hex>"
    );

    e.berth.ok(&["tag", "busybox", "example.test/team/bb:v1"]);
    let tags = e
        .berth
        .ok(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"]);
    assert!(
        tags.contains(&format!("example.test/team/bb v1 {}", id.trim())),
        "{tags}"
    );
    assert_eq!(
        e.berth
            .ok(&["images", "example.test/team/bb", "--format", "{{.Tag}}"]),
        "v1\n"
    );
    assert_eq!(
        e.berth.ok(&["rmi", "example.test/team/bb:v1"]),
        "Untagged: example.test/team/bb:v1\n"
    );

    let hist = e.berth.ok(&["history", "busybox"]);
    let header: Vec<&str> = hist.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"],
        "{hist}"
    );
    let inspect = e.berth.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Os}}/{{.Architecture}} {{json .Config.Cmd}}",
        "busybox",
    ]);
    assert_eq!(inspect, "linux/amd64 [\"/bin/sh\"]\n");
    let o = e.berth.run(&["rmi", "nosuch-image:latest"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("No such image"), "{o:?}");
}

fn push_pull_through_a_loopback_registry(e: &Engine) {
    berth_tests::require!(docker_registry);
    let reg = Registry::start();
    let image = format!("{}/team/bb:v1", reg.host());
    e.berth.ok(&["tag", "busybox", &image]);
    let push = e.berth.ok(&["push", &image]);
    assert!(push.contains("v1: digest: sha256:"), "{push}");
    e.berth.ok(&["rmi", &image]);
    let pull = e.berth.ok(&["pull", &image]);
    assert!(pull.contains("Pulling from team/bb"), "{pull}");
    assert!(
        pull.ends_with(&format!("\n{image}\n")),
        "pull ends with the full name: {pull}"
    );
    assert_eq!(
        e.berth.ok(&["run", "--rm", &image, "echo", "pulled"]),
        "pulled\n"
    );
    // -q prints only the name.
    assert_eq!(e.berth.ok(&["pull", "-q", &image]), format!("{image}\n"));
    // run pulls what is missing, reporting it on stderr.
    e.berth.ok(&["rmi", &image]);
    let o = e.berth.run(&["run", "--rm", &image, "echo", "auto"]);
    assert_eq!(o.stdout, "auto\n", "{o:?}");
    assert!(
        o.stderr
            .starts_with(&format!("Unable to find image '{image}' locally\n")),
        "{o:?}"
    );
}

fn save_and_load_round_trip(e: &Engine) {
    let file = e.work.path().join("saved.tar");
    e.berth
        .ok(&["save", "-o", file.to_str().unwrap(), "busybox:latest"]);
    let mut ar = tar::Archive::new(std::fs::File::open(&file).unwrap());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
    // To stdout when redirected.
    let o = e.berth.cmd(&["save", "busybox"]).output().unwrap();
    assert!(o.status.success());
    assert!(o.stdout.len() > 100_000);
    e.berth.ok(&["rmi", "busybox:latest"]);
    assert_eq!(e.berth.ok(&["images", "-q"]), "");
    let loaded = e.berth.run_stdin(&["load"], Some(&o.stdout));
    assert_eq!(loaded.code, 0, "{loaded:?}");
    assert!(
        loaded.stdout.contains("Loaded image: busybox:latest"),
        "{loaded:?}"
    );
    assert_eq!(
        e.berth.ok(&["run", "--rm", "busybox", "echo", "back"]),
        "back\n"
    );
    // A failed save leaves no partial file; a missing input is named.
    let bad = e.work.path().join("bad.tar");
    let o = e
        .berth
        .run(&["save", "-o", bad.to_str().unwrap(), "nosuch-image"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(!bad.exists());
    let o = e.berth.run(&["load", "-i", "/nonexistent/archive.tar"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("/nonexistent/archive.tar"), "{o:?}");
}

fn login_and_logout_keep_credentials_private(e: &Engine) {
    berth_tests::require!(docker_registry);
    let reg = Registry::start();
    let secret = unique("s3cret-pw");
    let o = e.berth.run_stdin(
        &["login", "-u", "tester", "--password-stdin", &reg.host()],
        Some(format!("{secret}\n").as_bytes()),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "Login Succeeded\n");
    assert!(!o.stdout.contains(&secret) && !o.stderr.contains(&secret));
    let file = e.berth.config.path().join("config.json");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let conf: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(conf["auths"][reg.host()]["auth"].is_string(), "{conf}");
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&secret));
    // The stored credentials go with pushes to that registry.
    let image = format!("{}/auth/bb:1", reg.host());
    e.berth.ok(&["tag", "busybox", &image]);
    e.berth.ok(&["push", "-q", &image]);
    assert_eq!(
        e.berth.ok(&["logout", &reg.host()]),
        format!("Removing login credentials for {}\n", reg.host())
    );
    assert_eq!(
        e.berth.ok(&["logout", &reg.host()]),
        format!("Not logged in to {}\n", reg.host())
    );
    let o = e.berth.run(&[
        "login",
        "-u",
        "x",
        "--password-stdin",
        "-p",
        "y",
        &reg.host(),
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("mutually exclusive"), "{o:?}");
    let o = e.berth.run(&["login", &reg.host()]);
    assert_eq!(o.code, 1, "no terminal for prompts: {o:?}");
    assert!(o.stderr.contains("non TTY"), "{o:?}");
}

fn disk_usage_and_prune(e: &Engine) {
    let name = unique("df");
    e.berth.ok(&["create", "--name", &name, "busybox", "true"]);
    let df = e.berth.ok(&["system", "df"]);
    let lines: Vec<&str> = df.lines().collect();
    assert!(
        lines[0].starts_with("TYPE            TOTAL     ACTIVE    SIZE"),
        "{df}"
    );
    assert!(lines[1].starts_with("Images          1         1"), "{df}");
    assert!(lines[2].starts_with("Containers      1         0"), "{df}");
    let json = e.berth.ok(&["system", "df", "--format", "{{json .}}"]);
    assert_eq!(json.lines().count(), 4, "{json}");
    let verbose = e.berth.ok(&["system", "df", "-v"]);
    assert!(verbose.contains("Containers space usage:"), "{verbose}");
    // Without -f and with no answer on stdin nothing is removed.
    let o = e.berth.run(&["container", "prune"]);
    assert!(
        o.stderr
            .contains("Are you sure you want to continue? [y/N]"),
        "{o:?}"
    );
    assert_eq!(e.berth.ok(&["ps", "-aq"]).lines().count(), 1);
    let pruned = e.berth.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(e.berth.ok(&["ps", "-aq"]), "");
    let o = e.berth.run_stdin(&["system", "prune", "-a"], Some(b"y\n"));
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("Total reclaimed space:"), "{o:?}");
    assert_eq!(
        e.berth.ok(&["images", "-q"]),
        "",
        "prune -a removed the unused image"
    );
}
