//! berthd's Docker Engine API over raw HTTP: version negotiation, dockerd's status codes and
//! error bodies for bad requests, and that a refused request leaves nothing behind.

use berth_tests::berthd::Berthd;
use berth_tests::require;

fn post_json(b: &Berthd, path: &str, body: &str) -> berth_tests::berthd::Response {
    b.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// Containers the engine lists, and container directories on disk.
fn debris(b: &Berthd) -> (usize, usize) {
    let list = b.request("GET", "/containers/json?all=1", &[], b"").json();
    let dirs = std::fs::read_dir(b.data_root().join("containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    (list.as_array().unwrap().len(), dirs)
}

#[test]
fn ping_version_and_negotiation() {
    require!(root);
    let b = Berthd::with_busybox();
    for method in ["GET", "HEAD"] {
        let r = b.request(method, "/_ping", &[], b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Api-Version"), Some("1.47"));
        assert_eq!(r.header("Ostype"), Some("linux"));
        assert_eq!(r.header("Docker-Experimental"), Some("false"));
        assert!(r.header("Server").unwrap().starts_with("Berth/"));
        assert!(r.header("Cache-Control").unwrap().contains("no-cache"));
        assert!(r.header("Builder-Version").is_some());
        assert_eq!(r.text(), if method == "GET" { "OK" } else { "" });
    }
    let v = b.request("GET", "/v1.47/version", &[], b"").json();
    assert_eq!(v["ApiVersion"], "1.47");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");
    assert!(v["Components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["Name"] == "Engine"));
    // Every endpoint answers both unversioned and under any supported version.
    assert_eq!(
        b.request("GET", "/v1.24/containers/json", &[], b"").status,
        200
    );
    let r = b.request("GET", "/v1.99/version", &[], b"");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "client version 1.99 is too new. Maximum supported API version is 1.47"
    );
    let r = b.request("GET", "/v1.12/version", &[], b"");
    assert_eq!(r.status, 400);
    assert!(
        r.message()
            .starts_with("client version 1.12 is too old. Minimum supported API version is 1.24"),
        "{}",
        r.message()
    );
    let r = b.request("GET", "/no/such/thing", &[], b"");
    assert_eq!((r.status, r.message().as_str()), (404, "page not found"));
    // The socket is root's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(b.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn bad_create_requests_get_dockerds_status_and_leave_nothing() {
    require!(root);
    let b = Berthd::with_busybox();
    let before = debris(&b);
    let cases: &[(&str, &str, u16, &str)] = &[
        ("/containers/create", "{", 400, "invalid JSON"),
        ("/containers/create", "", 400, "invalid JSON"),
        ("/containers/create", r#"{"Image":3}"#, 400, "invalid JSON"),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#,
            400,
            "invalid JSON",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","Cmd":{"a":1}}"#,
            400,
            "invalid JSON",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"ShmSize":-1}}"#,
            400,
            "SHM size can not be less than 0",
        ),
        (
            "/containers/create?name=bad%20name",
            r#"{"Image":"busybox"}"#,
            400,
            "Invalid container name (bad name)",
        ),
        (
            "/containers/create?name=x",
            r#"{"Image":"busybox"}"#,
            400,
            "Invalid container name (x)",
        ),
        (
            "/containers/create",
            r#"{"Image":"nosuchimage:v9"}"#,
            404,
            "No such image: nosuchimage:v9",
        ),
        (
            "/containers/create",
            r#"{"Image":"Not/Valid"}"#,
            400,
            "invalid reference format",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#,
            400,
            "invalid restart policy",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
            400,
            "AutoRemove",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"Memory":1024}}"#,
            400,
            "Minimum memory limit allowed is 6MB",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"CapAdd":["NOT_A_CAP"]}}"#,
            400,
            "unknown capability",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"Binds":["./relative:/x"]}}"#,
            400,
            "includes invalid characters for a local volume name",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"SecurityOpt":["bogus"]}}"#,
            400,
            "security-opt",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","WorkingDir":"rel"}"#,
            400,
            "absolute path",
        ),
        (
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"NetworkMode":"container:abc"}}"#,
            400,
            "not supported",
        ),
    ];
    for (path, body, status, msg) in cases {
        let r = post_json(&b, path, body);
        assert_eq!(r.status, *status, "{path} {body}: {}", r.text());
        assert!(
            r.message().contains(msg),
            "{path} {body}: message {:?} lacks {msg:?}",
            r.message()
        );
        assert_eq!(r.header("Content-Type"), Some("application/json"));
    }
    // A non-JSON content type is refused.
    let r = b.request(
        "POST",
        "/containers/create",
        &[("Content-Type", "text/xml")],
        b"<x/>",
    );
    assert_eq!(r.status, 400);
    assert_eq!(debris(&b), before, "refused creates left containers behind");

    // Names are unique: the second create conflicts and leaves nothing.
    let r = post_json(
        &b,
        "/containers/create?name=taken",
        r#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r = post_json(
        &b,
        "/containers/create?name=taken",
        r#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 409);
    assert!(
        r.message().contains("is already in use by container") && r.message().contains(&id),
        "{}",
        r.message()
    );
    assert_eq!(debris(&b), (before.0 + 1, before.1 + 1));
    assert_eq!(
        b.request("DELETE", "/containers/taken", &[], b"").status,
        204
    );
    assert_eq!(debris(&b), before);
}

#[test]
fn missing_objects_and_state_conflicts() {
    require!(root);
    let b = Berthd::with_busybox();
    for (m, p) in [
        ("GET", "/containers/nope/json"),
        ("POST", "/containers/nope/start"),
        ("POST", "/containers/nope/stop"),
        ("DELETE", "/containers/nope"),
        ("GET", "/containers/nope/logs?stdout=1"),
        ("POST", "/containers/nope/wait"),
    ] {
        let r = b.request(m, p, &[], b"");
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.message(), "No such container: nope", "{m} {p}");
    }
    for (m, p, msg) in [
        ("GET", "/images/nope:1/json", "No such image: nope:1"),
        ("DELETE", "/images/nope:1", "No such image: nope:1"),
        ("GET", "/exec/abc/json", "No such exec instance: abc"),
    ] {
        let r = b.request(m, p, &[], b"");
        assert_eq!((r.status, r.message().as_str()), (404, msg), "{m} {p}");
    }
    let id = post_json(
        &b,
        "/containers/create?name=st",
        r#"{"Image":"busybox","Cmd":["sleep","30"]}"#,
    )
    .json()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    // Not running yet: kill, pause and exec conflict; stop is "not modified".
    assert_eq!(
        b.request("POST", "/containers/st/kill", &[], b"").status,
        409
    );
    assert_eq!(
        b.request("POST", "/containers/st/pause", &[], b"").status,
        409
    );
    assert_eq!(
        post_json(&b, "/containers/st/exec", r#"{"Cmd":["true"]}"#).status,
        409
    );
    assert_eq!(
        b.request("POST", "/containers/st/stop", &[], b"").status,
        304
    );
    assert_eq!(
        b.request("POST", "/containers/st/start", &[], b"").status,
        204
    );
    assert_eq!(
        b.request("POST", "/containers/st/start", &[], b"").status,
        304
    );
    assert_eq!(
        b.request("POST", "/containers/st/unpause", &[], b"").status,
        409
    );
    let r = b.request("POST", "/containers/st/kill?signal=NOPE", &[], b"");
    assert_eq!(
        (r.status, r.message().as_str()),
        (400, "Invalid signal: NOPE")
    );
    let r = b.request("DELETE", "/containers/st", &[], b"");
    assert_eq!(r.status, 409);
    assert!(
        r.message().contains("container is running"),
        "{}",
        r.message()
    );
    let r = post_json(&b, "/containers/st/exec", r#"{"Cmd":[]}"#);
    assert_eq!(
        (r.status, r.message().as_str()),
        (400, "No exec command specified")
    );
    // The id prefix and the name both reach it; the rename conflict is a 409.
    assert_eq!(
        b.request("GET", &format!("/containers/{}/json", &id[..6]), &[], b"")
            .status,
        200
    );
    post_json(
        &b,
        "/containers/create?name=other",
        r#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(
        b.request("POST", "/containers/st/rename?name=other", &[], b"")
            .status,
        409
    );
    assert_eq!(
        b.request("POST", "/containers/st/rename?name=%2F", &[], b"")
            .status,
        400
    );
    assert_eq!(
        b.request("DELETE", "/containers/st?force=1", &[], b"")
            .status,
        204
    );
    assert_eq!(
        b.request("GET", "/containers/st/json", &[], b"").status,
        404
    );
    let r = b.request(
        "GET",
        "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.message().as_str()),
        (400, "invalid filter 'bogus'")
    );
    let r = b.request("GET", "/containers/json?filters=notjson", &[], b"");
    assert_eq!(r.status, 400);
}

#[test]
fn inspect_has_the_fields_clients_read() {
    require!(root);
    let b = Berthd::with_busybox();
    let r = post_json(
        &b,
        "/containers/create?name=insp",
        r#"{"Image":"busybox","Cmd":["sh","-c","exit 7"],"Env":["A=1"],"Labels":{"l":"v"},"HostConfig":{"NetworkMode":"none"}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Warnings"], serde_json::json!([]));
    // The wait is registered once its status line came.
    let w = berth_tests::berthd::begin_request(
        &b.socket(),
        "POST",
        "/containers/insp/wait?condition=next-exit",
        &[],
        b"",
    );
    assert_eq!(
        b.request("POST", "/containers/insp/start", &[], b"").status,
        204
    );
    let w = w.finish();
    assert_eq!(w.status, 200);
    assert_eq!(w.json()["StatusCode"], 7);
    let v = b.request("GET", "/containers/insp/json", &[], b"").json();
    for k in [
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "Name",
        "RestartCount",
        "HostConfig",
        "Config",
        "NetworkSettings",
        "Mounts",
        "GraphDriver",
        "LogPath",
        "HostsPath",
        "ResolvConfPath",
        "HostnamePath",
        "Driver",
        "Platform",
    ] {
        assert!(v.get(k).is_some(), "inspect lacks {k}: {v}");
    }
    let s = &v["State"];
    for k in [
        "Status",
        "Running",
        "Paused",
        "Restarting",
        "OOMKilled",
        "Dead",
        "Pid",
        "ExitCode",
        "Error",
        "StartedAt",
        "FinishedAt",
    ] {
        assert!(s.get(k).is_some(), "State lacks {k}");
    }
    assert_eq!(s["Status"], "exited");
    assert_eq!(s["ExitCode"], 7);
    assert_eq!(v["Name"], "/insp");
    assert_eq!(v["Path"], "sh");
    assert_eq!(v["Args"], serde_json::json!(["-c", "exit 7"]));
    assert!(v["Image"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["Config"]["Image"], "busybox");
    assert_eq!(v["Config"]["Labels"]["l"], "v");
    assert!(v["Config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("A=1")));
    assert_eq!(v["HostConfig"]["NetworkMode"], "none");
    assert!(v["NetworkSettings"]["Networks"].get("none").is_some());
    // The list shows it with docker's fields.
    let l = b
        .request(
            "GET",
            "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22insp%22%5D%7D",
            &[],
            b"",
        )
        .json();
    assert_eq!(l.as_array().unwrap().len(), 1);
    assert_eq!(l[0]["Names"], serde_json::json!(["/insp"]));
    assert_eq!(l[0]["State"], "exited");
    assert!(l[0]["Status"].as_str().unwrap().starts_with("Exited (7)"));
}

/// What a daemon that runs neither swarm mode nor plugins answers, and which paths it serves
/// with a trailing slash: berthd and dockerd side by side, status and message alike.
#[test]
fn swarm_plugins_and_trailing_slashes_answer_as_dockerd() {
    require!(root, dockerd);
    let b = Berthd::start();
    let d = berth_tests::dockerd::Dockerd::start().expect("dockerd is installed but did not start");
    let ask = |sock: &std::path::Path, method: &str, path: &str, body: &str| {
        let r = berth_tests::berthd::raw_request(
            sock,
            method,
            &format!("/v1.41{path}"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let message = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from));
        (r.status, message)
    };
    let cases = [
        ("GET", "/plugins", ""),
        ("GET", "/plugins/nothing/json", ""),
        ("DELETE", "/plugins/nothing", ""),
        ("POST", "/plugins/nothing/disable", ""),
        ("GET", "/plugins/", ""),
        ("GET", "/swarm", ""),
        ("POST", "/swarm/leave", ""),
        ("POST", "/swarm/leave?force=1", ""),
        ("GET", "/swarm/unlockkey", ""),
        ("POST", "/swarm/unlock", "{}"),
        ("GET", "/swarm/other", ""),
        ("GET", "/services", ""),
        ("GET", "/services/x", ""),
        ("DELETE", "/services/x", ""),
        ("POST", "/services/create", "{}"),
        ("GET", "/services/", ""),
        ("GET", "/nodes", ""),
        ("GET", "/nodes/x", ""),
        ("DELETE", "/nodes/x", ""),
        ("GET", "/tasks", ""),
        ("GET", "/tasks/x", ""),
        ("GET", "/secrets", ""),
        ("GET", "/secrets/x", ""),
        ("DELETE", "/secrets/x", ""),
        ("POST", "/secrets/create", "{}"),
        ("GET", "/configs", ""),
        ("GET", "/configs/x", ""),
        ("DELETE", "/configs/x", ""),
        ("POST", "/configs/create", "{}"),
        ("GET", "/volumes/", ""),
        ("GET", "/containers/json/", ""),
        ("GET", "/images/json/", ""),
        ("GET", "/info/", ""),
        ("GET", "/_ping/", ""),
        ("POST", "/nonexistent", "{\"a\":1}"),
    ];
    for (method, path, body) in cases {
        let ours = ask(&b.socket(), method, path, body);
        let theirs = ask(&d.socket(), method, path, body);
        assert_eq!(ours, theirs, "{method} {path}: berthd vs dockerd");
    }
    // The network list with a trailing slash is the list.
    for sock in [b.socket(), d.socket()] {
        let r = berth_tests::berthd::raw_request(&sock, "GET", "/v1.41/networks/", &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json().as_array().is_some(), "{}", r.text());
    }
}

/// `null` for an optional field is "unset" in every request body (Go clients send it for
/// every field they leave out), on berthd as on dockerd.
#[test]
fn null_is_unset_in_request_bodies() {
    require!(root, dockerd);
    let b = Berthd::with_busybox();
    let d = berth_tests::dockerd::Dockerd::start().expect("dockerd is installed but did not start");
    let net = berth_tests::unique("nulls");
    let vol = berth_tests::unique("nulls");
    let bodies = [
        (
            "/networks/create",
            format!(
                r#"{{"Name":"{net}","Driver":"bridge","Labels":null,"Options":null,"IPAM":{{"Driver":"default","Config":null,"Options":null}}}}"#
            ),
        ),
        (
            "/volumes/create",
            format!(r#"{{"Name":"{vol}","Driver":"local","DriverOpts":null,"Labels":null}}"#),
        ),
    ];
    for (path, body) in &bodies {
        for (who, sock) in [("berthd", b.socket()), ("dockerd", d.socket())] {
            let r = berth_tests::berthd::raw_request(
                &sock,
                "POST",
                &format!("/v1.41{path}"),
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            );
            assert_eq!(r.status, 201, "{who} {path}: {}", r.text());
        }
    }
    for sock in [b.socket(), d.socket()] {
        for path in [format!("/networks/{net}"), format!("/volumes/{vol}")] {
            let r = berth_tests::berthd::raw_request(&sock, "DELETE", &path, &[], b"");
            assert_eq!(r.status, 204, "DELETE {path}: {}", r.text());
        }
    }
    let name = berth_tests::unique("nulls");
    let create = r#"{"Image":"busybox","Cmd":["true"],"Labels":null,"Env":null,"Entrypoint":null,"Volumes":null,"ExposedPorts":null,
        "Healthcheck":{"Test":["CMD","true"],"Interval":1000000000,"Timeout":null,"Retries":null,"StartPeriod":null},
        "HostConfig":{"LogConfig":{"Type":"","Config":null},"Binds":null,"PortBindings":null,"RestartPolicy":{"Name":"","MaximumRetryCount":0},
          "Mounts":null,"Devices":null,"Ulimits":null,"CapAdd":null,"Dns":null,"ExtraHosts":null,"Memory":0,"NanoCpus":0,"Tmpfs":null,"Sysctls":null},
        "NetworkingConfig":{"EndpointsConfig":null}}"#;
    let r = post_json(&b, &format!("/containers/create?name={name}"), create);
    assert_eq!(r.status, 201, "{}", r.text());
    let inspect = b
        .request("GET", &format!("/containers/{name}/json"), &[], b"")
        .json();
    assert_eq!(
        inspect["Config"]["Healthcheck"]["Test"][1], "true",
        "{inspect}"
    );
    assert_eq!(
        inspect["HostConfig"]["LogConfig"]["Type"], "json-file",
        "{inspect}"
    );
    assert_eq!(
        b.request("DELETE", &format!("/containers/{name}"), &[], b"")
            .status,
        204
    );
}

/// dockerd reads JSON bodies of any size; a create of several MiB (over common HTTP
/// defaults) is served, a body over the engine's limit gets a 413 in JSON, and a POST with
/// a body to a path no route serves gets its 404 without the upload being cut off.
#[test]
fn large_bodies_are_read_and_errors_about_them_are_json() {
    require!(root, dockerd);
    let b = Berthd::with_busybox();
    let d = berth_tests::dockerd::Dockerd::start().expect("dockerd is installed but did not start");
    let big = "x".repeat(3 << 20);
    let create = format!(r#"{{"Image":"busybox","Labels":{{"big":"{big}"}}}}"#);
    let name = berth_tests::unique("biglabel");
    for sock in [b.socket(), d.socket()] {
        let r = berth_tests::berthd::raw_request(
            &sock,
            "POST",
            &format!("/v1.41/containers/create?name={name}"),
            &[("Content-Type", "application/json")],
            create.as_bytes(),
        );
        // dockerd has no busybox here: what matters is that it read the body.
        assert!(
            r.status == 201 || (r.status == 404 && sock == d.socket()),
            "{}: {} {}",
            sock.display(),
            r.status,
            r.text()
        );
        if r.status == 201 {
            let v = berth_tests::berthd::raw_request(
                &sock,
                "GET",
                &format!("/containers/{name}/json"),
                &[],
                b"",
            )
            .json();
            assert_eq!(
                v["Config"]["Labels"]["big"].as_str().map(str::len),
                Some(3 << 20)
            );
            berth_tests::berthd::raw_request(
                &sock,
                "DELETE",
                &format!("/containers/{name}?force=1"),
                &[],
                b"",
            );
        }
        // dockerd answers 404 but stops reading (the client's write fails); berthd reads
        // the body first (below).
        let r = berth_tests::berthd::send_body_lossy(
            &sock,
            "POST",
            "/v1.41/no/such/route",
            &vec![b' '; 8 << 20],
        );
        assert_eq!(r.status, 404, "{}", sock.display());
        assert_eq!(r.message(), "page not found");
    }
    let r = berth_tests::berthd::raw_request(
        &b.socket(),
        "POST",
        "/v1.41/no/such/route",
        &[("Content-Type", "application/json")],
        &vec![b' '; 8 << 20],
    );
    assert_eq!((r.status, r.message()), (404, "page not found".into()));
    // Over the limit: the answer is JSON, whatever the client manages to send meanwhile.
    let r = berth_tests::berthd::send_body_lossy(
        &b.socket(),
        "POST",
        "/containers/create",
        &vec![b' '; 65 << 20],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.message().contains("request body too large"),
        "{}",
        r.text()
    );
    assert_eq!(debris(&b).0, 0);
}
