//! `docker images REPO` / `berth images REPO` (the `reference` filter of GET /images/json)
//! list only the tags that match, as dockerd does, wildcards included.

use berth_tests::berthd::Berthd;
use berth_tests::cli::Berth;
use berth_tests::require;

/// The `repo:tag` lines one CLI lists for `args`, sorted.
fn listed(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(|l| l.trim().to_string()).collect();
    v.sort();
    v
}

#[test]
fn images_lists_only_the_matching_tags() {
    require!(root, docker_cli);
    let b = Berthd::start();
    b.load_busybox();
    b.docker_ok(&["tag", "busybox", "busybox:v2"]);
    b.docker_ok(&["tag", "busybox", "other:1"]);
    b.docker_ok(&["tag", "busybox", "localhost:5000/team/app:3"]);
    let berth = Berth::new(&b.host());
    let format = "{{.Repository}}:{{.Tag}}";
    for (filter, want) in [
        ("busybox", vec!["busybox:latest", "busybox:v2"]),
        ("busy*:lat*", vec!["busybox:latest"]),
        ("busybox:v2", vec!["busybox:v2"]),
        ("other", vec!["other:1"]),
        ("localhost:5000/team/app", vec!["localhost:5000/team/app:3"]),
        // As Go's path.Match: '*' stops at '/'.
        ("*/team/*", vec!["localhost:5000/team/app:3"]),
        ("*app*", vec![]),
        ("nothing", vec![]),
    ] {
        let docker = listed(&b.docker_ok(&["images", "--format", format, filter]));
        assert_eq!(docker, want, "docker images {filter}");
        let ours = listed(&berth.ok(&["images", "--format", format, filter]));
        assert_eq!(ours, want, "berth images {filter}");
    }
    // The API lists the image once, with only the matching names.
    let r = b.request(
        "GET",
        "/images/json?filters=%7B%22reference%22%3A%5B%22other%22%5D%7D",
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["RepoTags"], serde_json::json!(["other:1"]), "{v}");
    // Without a filter every name is there.
    let all = listed(&b.docker_ok(&["images", "--format", format]));
    assert_eq!(all.len(), 4, "{all:?}");
}
