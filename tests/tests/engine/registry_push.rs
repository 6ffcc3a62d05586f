//! `docker push` to a loopback registry, line by line as dockerd 20.10 writes it: each
//! layer "Preparing", then "Pushing" with its bytes (`progressDetail` current/total) and
//! "Pushed"; pushed again, "Layer already exists"; pushed to another repository of the
//! same registry, "Mounted from <repo>" (a cross-repository mount, no upload). Uploads run
//! in parallel, never more than dockerd's five at once. Each check runs against berthd
//! and against Debian's dockerd, each with a registry of its own.

use std::collections::BTreeMap;

use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::images::{docker_archive, layer_tar, random_bytes, Entry};
use berth_tests::registry::Registry;
use berth_tests::{require, unique};

/// The pushed image's layers: one large enough to be uploaded in several reported steps,
/// and six small ones (more layers than uploads run at once).
fn layers() -> Vec<Vec<u8>> {
    let big = random_bytes(6 << 20, 7);
    let mut out = vec![layer_tar(&[Entry::File("big", &big)])];
    for i in 0..6u64 {
        let data = random_bytes(64 << 10, 100 + i);
        let name = format!("small{i}");
        out.push(layer_tar(&[Entry::File(&name, &data)]));
    }
    out
}

/// The JSON lines of `POST /images/{repo}/push?tag=`.
fn push(d: &DockerCli, repo: &str, tag: &str) -> Vec<serde_json::Value> {
    let r = raw_request(
        &d.socket(),
        "POST",
        &format!("/v1.41/images/{repo}/push?tag={tag}"),
        // base64 of "{}": anonymous.
        &[("X-Registry-Auth", "e30=")],
        b"",
    );
    assert_eq!(r.status, 200, "{}: {}", d.daemon, r.text());
    let lines: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", d.daemon)))
        .collect();
    assert!(
        lines.iter().all(|l| l.get("error").is_none()),
        "{}: {lines:#?}",
        d.daemon
    );
    lines
}

/// Each layer's statuses in order, repeats and the timing-dependent "Waiting" left out.
fn statuses(lines: &[serde_json::Value]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lines {
        let (Some(id), Some(s)) = (l["id"].as_str(), l["status"].as_str()) else {
            continue;
        };
        if id.is_empty() || s == "Waiting" {
            continue;
        }
        let v = m.entry(id.to_string()).or_default();
        if v.last().map(String::as_str) != Some(s) {
            v.push(s.to_string());
        }
    }
    m
}

/// The most layers uploading at the same time: from a layer's first "Pushing" line to
/// its "Pushed".
fn most_at_once(lines: &[serde_json::Value]) -> usize {
    let mut active = std::collections::BTreeSet::new();
    let mut most = 0;
    for l in lines {
        let (Some(id), Some(s)) = (l["id"].as_str(), l["status"].as_str()) else {
            continue;
        };
        match s {
            "Pushing" => {
                active.insert(id.to_string());
            }
            "Pushed" => {
                active.remove(id);
            }
            _ => {}
        }
        most = most.max(active.len());
    }
    most
}

fn expect_each(got: &BTreeMap<String, Vec<String>>, ids: &[String], want: &[&str], who: &str) {
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        ids.to_vec(),
        "{who}: layers named by their diff IDs"
    );
    for (id, s) in got {
        assert_eq!(s, want, "{who}: layer {id}");
    }
}

/// The final status line and the aux record name the tag and the manifest digest.
fn check_tail(lines: &[serde_json::Value], tag: &str, who: &str) {
    let last = lines
        .iter()
        .rev()
        .find_map(|l| l["status"].as_str())
        .unwrap_or("");
    assert!(
        last.starts_with(&format!("{tag}: digest: sha256:")) && last.contains(" size: "),
        "{who}: {last}"
    );
    let aux = lines.iter().find_map(|l| l.get("aux")).expect("aux record");
    assert_eq!(aux["Tag"], tag, "{who}");
    assert!(
        aux["Digest"]
            .as_str()
            .is_some_and(|d| last.contains(d) && d.starts_with("sha256:")),
        "{who}: {aux}"
    );
}

fn run_all(d: &DockerCli) {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let ns = unique("push");
    let first = format!("{}/{ns}/a", reg.host());
    let layers = layers();
    let archive = dir.path().join("img.tar");
    std::fs::write(&archive, docker_archive(&layers, &format!("{first}:v1"))).unwrap();
    d.ok(&["load", "-i", archive.to_str().unwrap()]);
    let ids: Vec<String> = {
        let mut v: Vec<String> = layers
            .iter()
            .map(|l| berth_tests::images::sha256(l)[7..19].to_string())
            .collect();
        v.sort();
        v
    };
    let who = d.daemon;

    // A first push uploads every layer, reporting its bytes.
    let lines = push(d, &first, "v1");
    assert_eq!(
        lines[0]["status"],
        format!("The push refers to repository [{first}]"),
        "{who}"
    );
    expect_each(
        &statuses(&lines),
        &ids,
        &["Preparing", "Pushing", "Pushed"],
        who,
    );
    check_tail(&lines, "v1", who);
    let big = &ids_of(&layers[..1])[0];
    let bytes: Vec<(i64, i64)> = lines
        .iter()
        .filter(|l| l["id"] == big.as_str() && l["status"] == "Pushing")
        .map(|l| {
            let p = &l["progressDetail"];
            (
                p["current"].as_i64().unwrap_or(0),
                p["total"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        bytes
            .iter()
            .any(|(c, t)| *c > 0 && *c <= *t && *t >= 6 << 20),
        "{who}: the large layer's bytes are reported: {bytes:?}"
    );
    assert!(
        lines.iter().any(|l| l["status"] == "Pushing"
            && l["progress"].as_str().is_some_and(|p| p.contains("MB"))),
        "{who}: progress bars"
    );
    let most = most_at_once(&lines);
    assert!((1..=5).contains(&most), "{who}: {most} uploads at once");

    // Again: the registry has every layer.
    let lines = push(d, &first, "v1");
    expect_each(
        &statuses(&lines),
        &ids,
        &["Preparing", "Layer already exists"],
        who,
    );
    check_tail(&lines, "v1", who);

    // Another repository of the same registry: mounted, not uploaded.
    let second = format!("{}/{ns}/b", reg.host());
    d.ok(&["tag", &format!("{first}:v1"), &format!("{second}:v2")]);
    let lines = push(d, &second, "v2");
    let mounted = format!("Mounted from {ns}/a");
    expect_each(&statuses(&lines), &ids, &["Preparing", &mounted], who);
    check_tail(&lines, "v2", who);

    // What the registry serves under the second name pulls back as the same image.
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", &format!("{first}:v1")]);
    d.ok(&["rmi", &format!("{first}:v1"), &format!("{second}:v2")]);
    d.ok(&["pull", &format!("{second}:v2")]);
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", &format!("{second}:v2")]),
        id,
        "{who}"
    );
    d.ok(&["rmi", &format!("{second}:v2")]);
}

fn ids_of(layers: &[Vec<u8>]) -> Vec<String> {
    layers
        .iter()
        .map(|l| berth_tests::images::sha256(l)[7..19].to_string())
        .collect()
}

#[test]
fn berthd() {
    require!(root, docker_cli, docker_registry);
    let b = Berthd::start();
    run_all(&b.cli());
}

#[test]
fn dockerd() {
    require!(root, docker_cli, dockerd, docker_registry);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    run_all(&d.cli());
}
