//! Disk accounting as dockerd 20.10 does it: `GET /system/df` (and `docker system df`,
//! `-v`, `docker ps -s`) counts a layer by the lengths of its files, an image's
//! `SharedSize` by the layers it has in common with another, `LayersSize` each layer once;
//! a container's `SizeRw` is what it wrote (a fresh one is 0B) and its `SizeRootFs` that
//! plus its image; a volume's `UsageData` what it holds. Pruning containers reports what
//! they wrote. Each check runs against berthd and Debian's dockerd, whose answers
//! are the expectations written here.

use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::images::{docker_archive, layer_tar, random_bytes, Entry};
use berth_tests::{require, unique};
use serde_json::Value;

fn api(d: &DockerCli, method: &str, path: &str) -> Value {
    let r = raw_request(&d.socket(), method, path, &[], b"");
    assert_eq!(r.status, 200, "{} {method} {path}: {}", d.daemon, r.text());
    r.json()
}

fn df(d: &DockerCli) -> Value {
    api(d, "GET", "/v1.41/system/df")
}

fn image<'a>(df: &'a Value, tag: &str) -> &'a Value {
    df["Images"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|i| {
                i["RepoTags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == tag))
            })
        })
        .unwrap_or_else(|| panic!("no image {tag} in {df}"))
}

fn container<'a>(df: &'a Value, name: &str) -> &'a Value {
    df["Containers"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|c| c["Names"][0] == format!("/{name}").as_str())
        })
        .unwrap_or_else(|| panic!("no container {name} in {df}"))
}

fn run_all(d: &DockerCli) {
    let who = d.daemon;
    let dir = tempfile::tempdir().unwrap();
    let busybox = berth_tests::cli::busybox_archive(dir.path());
    d.ok(&["load", "-i", busybox.to_str().unwrap()]);

    // Two images sharing their first layer: 100000 + 30000 and 100000 + 20000 bytes.
    let base = layer_tar(&[
        Entry::Dir("d"),
        Entry::File("d/base", &random_bytes(100_000, 1)),
    ]);
    let a_top = layer_tar(&[Entry::File("a", &random_bytes(30_000, 2))]);
    let b_top = layer_tar(&[Entry::File("b", &random_bytes(20_000, 3))]);
    let (a, b) = (unique("dfa"), unique("dfb"));
    for (name, top) in [(&a, &a_top), (&b, &b_top)] {
        let f = dir.path().join(format!("{name}.tar"));
        let tar = docker_archive(&[base.clone(), top.clone()], &format!("{name}:1"));
        std::fs::write(&f, tar).unwrap();
        d.ok(&["load", "-i", f.to_str().unwrap()]);
    }
    let v = df(d);
    let (ia, ib, bb) = (
        image(&v, &format!("{a}:1")),
        image(&v, &format!("{b}:1")),
        image(&v, "busybox:latest"),
    );
    assert_eq!(
        (ia["Size"].as_i64(), ia["SharedSize"].as_i64()),
        (Some(130_000), Some(100_000)),
        "{who}: {ia}"
    );
    assert_eq!(
        (ib["Size"].as_i64(), ib["SharedSize"].as_i64()),
        (Some(120_000), Some(100_000)),
        "{who}: {ib}"
    );
    let bb_size = bb["Size"].as_i64().unwrap();
    assert!(bb_size > 500_000, "{who}: {bb}");
    assert_eq!(bb["SharedSize"], 0, "{who}: {bb}");
    assert_eq!(
        v["LayersSize"].as_i64(),
        Some(bb_size + 150_000),
        "{who}: every layer once"
    );
    // `docker images` shows the same size.
    let listed = d.ok(&["images", "--format", "{{.Size}}", &format!("{a}:1")]);
    assert_eq!(listed.trim(), "130kB", "{who}");

    // A fresh container wrote nothing; another wrote 12345 bytes; a volume holds 5000.
    let (fresh, writer, vol) = (unique("fresh"), unique("writer"), unique("dfvol"));
    d.ok(&[
        "create", "--name", &fresh, "--net", "none", "busybox", "true",
    ]);
    d.ok(&[
        "run",
        "--name",
        &writer,
        "--net",
        "none",
        "-v",
        &format!("{vol}:/data"),
        "busybox",
        "sh",
        "-c",
        "head -c 12345 /dev/zero > /f; head -c 5000 /dev/zero > /data/x",
    ]);
    let v = df(d);
    let c = container(&v, &fresh);
    // dockerd leaves out a `SizeRw` of 0.
    assert_eq!(
        (c["SizeRw"].as_i64().unwrap_or(0), c["SizeRootFs"].as_i64()),
        (0, Some(bb_size)),
        "{who}: {c}"
    );
    let c = container(&v, &writer);
    assert_eq!(
        (c["SizeRw"].as_i64(), c["SizeRootFs"].as_i64()),
        (Some(12_345), Some(bb_size + 12_345)),
        "{who}: {c}"
    );
    assert_eq!(image(&v, "busybox:latest")["Containers"], 2, "{who}");
    let volume = v["Volumes"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["Name"] == vol.as_str()))
        .unwrap_or_else(|| panic!("{who}: no volume {vol} in {v}"));
    assert_eq!(
        volume["UsageData"],
        serde_json::json!({"Size": 5000, "RefCount": 1}),
        "{who}"
    );
    let sizes = d.ok(&["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"]);
    assert!(
        sizes
            .lines()
            .any(|l| l.starts_with(&format!("{fresh} 0B (virtual "))),
        "{who}: {sizes}"
    );
    assert!(
        sizes
            .lines()
            .any(|l| l.starts_with(&format!("{writer} 12.3kB (virtual "))),
        "{who}: {sizes}"
    );
    // The CLI's summary and verbose views read the same numbers.
    let summary = d.ok(&["system", "df", "--format", "{{.Type}} {{.Size}}"]);
    assert!(summary.contains("Containers 12.35kB"), "{who}: {summary}");
    assert!(summary.contains("Local Volumes 5kB"), "{who}: {summary}");
    let verbose = d.ok(&["system", "df", "-v"]);
    let row = verbose
        .lines()
        .find(|l| l.starts_with(&format!("{a} ")))
        .unwrap_or_else(|| panic!("{who}: {verbose}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // REPOSITORY TAG ID CREATED... SIZE SHARED UNIQUE CONTAINERS: the last four.
    assert_eq!(
        cols[cols.len() - 4..],
        ["130kB", "100kB", "30kB", "0"],
        "{who}: {row}"
    );

    // Pruning containers reclaims what they wrote.
    let r = api(d, "POST", "/v1.41/containers/prune");
    assert_eq!(r["SpaceReclaimed"], 12_345, "{who}: {r}");
    d.ok(&["volume", "rm", &vol]);

    // Pruning every image leaves no layer behind, and says what it freed: at least the
    // layers' size.
    let layers = df(d)["LayersSize"].as_u64().expect("LayersSize");
    assert!(layers > 0, "{who}");
    let r = api(
        d,
        "POST",
        "/v1.41/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D",
    );
    let reclaimed = r["SpaceReclaimed"].as_u64().unwrap_or_default();
    assert!(reclaimed >= layers, "{who}: {reclaimed} < {layers}: {r}");
    let v = df(d);
    assert_eq!(v["LayersSize"], 0, "{who}: {v}");
    assert_eq!(v["Images"], serde_json::json!([]), "{who}: {v}");
}

#[test]
fn berthd() {
    require!(root, docker_cli);
    let b = Berthd::start();
    run_all(&b.cli());
}

#[test]
fn dockerd() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    run_all(&d.cli());
}

/// The JSON kind of a value, for comparing shapes.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where the shapes of `ours` and `theirs` differ, field by field: a key one has and the
/// other lacks, or a value of another kind (null, number, array...). Lists are compared
/// entry by entry.
fn shape_differences(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => shape_differences(&p, v, w, out),
                    None => out.push(format!("{p}: only berthd has it ({v})")),
                }
            }
            for (k, w) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: only dockerd has it ({w})"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() != b.len() => out.push(format!(
            "{path}: {} entries on berthd, {} on dockerd",
            a.len(),
            b.len()
        )),
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                shape_differences(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if kind(ours) != kind(theirs) => out.push(format!(
            "{path}: {} on berthd ({ours}), {} on dockerd ({theirs})",
            kind(ours),
            kind(theirs)
        )),
        _ => {}
    }
}

fn assert_same_shape(ours: &Value, theirs: &Value, what: &str) {
    let mut diffs = Vec::new();
    shape_differences("", ours, theirs, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{what}: GET /system/df differs from dockerd's:\n{}\nberthd: {ours}\ndockerd: {theirs}",
        diffs.join("\n")
    );
}

/// The same objects on both daemons: busybox, a created container with a named volume, a
/// container that ran and wrote a file, a volume nobody uses.
fn populate(d: &DockerCli, dir: &std::path::Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().unwrap()]);
    let (vol, lone) = (unique("shapevol"), unique("shapelone"));
    d.ok(&[
        "create",
        "--name",
        &unique("shapec"),
        "--net",
        "none",
        "-v",
        &format!("{vol}:/data"),
        "busybox",
        "true",
    ]);
    d.ok(&[
        "run",
        "--name",
        &unique("shapew"),
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "head -c 1000 /dev/zero > /f",
    ]);
    d.ok(&["volume", "create", &lone]);
}

/// `GET /system/df` has dockerd 20.10's shape, side by side with it: on an empty engine
/// (no images, containers, volumes or build cache: `BuildCache` null, `BuilderSize` 0), then
/// with an image, containers and volumes.
#[test]
fn df_has_the_shape_of_dockerds() {
    require!(root, docker_cli, dockerd);
    let b = Berthd::start();
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    let (ours, theirs) = (b.cli(), d.cli());
    assert_same_shape(&df(&ours), &df(&theirs), "empty engine");

    let dir = tempfile::tempdir().unwrap();
    populate(&ours, dir.path());
    populate(&theirs, dir.path());
    let (mut ours, theirs) = (df(&ours), df(&theirs));
    // One difference in what is known, not in the shape: berthd keeps the manifest digest
    // of a loaded image, dockerd has none for it.
    let digests = &mut ours["Images"][0]["RepoDigests"];
    assert!(digests.is_array(), "{digests}");
    *digests = Value::Null;
    assert_same_shape(&ours, &theirs, "an image, containers and volumes");
}
