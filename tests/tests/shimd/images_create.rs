//! Images.Create (an image from blobs a client wrote, under its lease, as a builder or
//! `commit` does) and Snapshots.Changes (what a writable snapshot changed, `docker diff`).

use std::process::Command;

use berth_proto::v1::{self, content_client::ContentClient, images_client::ImagesClient};
use berth_proto::v1::{leases_client::LeasesClient, system_client::SystemClient};
use berth_tests::images::{build_image, busybox_layer, layer_tar, sha256, Entry};
use berth_tests::shimd::Shimd;
use berth_tests::tasks::Grpc;
use berth_tests::{require, unique};

use super::images_store::{mount_lines, umount};

/// Writes `data` as a blob, added to `lease`.
fn write(g: &Grpc, lease: &str, data: &[u8]) -> String {
    let mut req = tonic::Request::new(tokio_stream::iter(vec![v1::WriteContentRequest {
        data: data.to_vec(),
        ..Default::default()
    }]));
    req.metadata_mut()
        .insert(berth_proto::LEASE_HEADER, lease.parse().unwrap());
    g.block_on(ContentClient::new(g.channel()).write(req))
        .expect("content write")
        .into_inner()
        .digest
}

fn gc(g: &Grpc) {
    g.block_on(
        SystemClient::new(g.channel()).garbage_collect(v1::GarbageCollectRequest::default()),
    )
    .expect("gc");
}

fn has_blob(g: &Grpc, digest: &str) -> bool {
    g.block_on(
        ContentClient::new(g.channel()).info(v1::ContentInfoRequest {
            digest: digest.to_string(),
        }),
    )
    .is_ok()
}

fn create(g: &Grpc, name: &str, manifest: &str, size: usize) -> Result<v1::Image, tonic::Status> {
    g.block_on(
        ImagesClient::new(g.channel()).create(v1::CreateImageRequest {
            name: name.to_string(),
            target: Some(v1::Descriptor {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: manifest.to_string(),
                size: size as i64,
                ..Default::default()
            }),
            labels: Default::default(),
            unpack: true,
        }),
    )
    .map(|r| r.into_inner())
}

/// A config and a manifest over one uncompressed layer.
fn config_and_manifest(
    layer_digest: &str,
    layer_size: usize,
) -> (Vec<u8>, impl Fn(&str, usize) -> Vec<u8>) {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "config": {"Cmd": ["/bin/cat", "/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let layer_digest = layer_digest.to_string();
    let manifest = move |config_digest: &str, config_size: usize| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
        }))
        .unwrap()
    };
    (config, manifest)
}

#[test]
fn create_names_an_image_whose_blobs_a_lease_kept() {
    require!(root);
    let s = Shimd::start();
    let ns = unique("create");
    let g = Grpc::connect(&s.socket(), &ns);
    let lease = g
        .block_on(LeasesClient::new(g.channel()).create(v1::CreateLeaseRequest::default()))
        .unwrap()
        .into_inner()
        .id;
    let layer = layer_tar(&[Entry::File("hello", b"hi")]);
    let layer_digest = write(&g, &lease, &layer);
    assert_eq!(layer_digest, sha256(&layer));
    let (config, manifest_for) = config_and_manifest(&layer_digest, layer.len());
    let config_digest = write(&g, &lease, &config);
    let manifest = manifest_for(&config_digest, config.len());
    let manifest_digest = write(&g, &lease, &manifest);

    // Nothing names the blobs yet: the lease alone keeps them through a collection.
    gc(&g);
    for d in [&layer_digest, &config_digest, &manifest_digest] {
        assert!(has_blob(&g, d), "{d} was collected while leased");
    }

    let img = create(&g, "x/created:1", &manifest_digest, manifest.len()).expect("create");
    assert_eq!(img.name, "docker.io/x/created:1");
    let d = g
        .block_on(
            ImagesClient::new(g.channel()).inspect(v1::InspectImageRequest {
                name: "docker.io/x/created:1".into(),
                platform: None,
            }),
        )
        .unwrap()
        .into_inner();
    assert!(d.unpacked, "created unpacked: {d:?}");
    assert_eq!(d.diff_ids, vec![layer_digest.clone()]);
    assert_eq!(d.config.unwrap().digest, config_digest);

    // The image holds its blobs once the lease is gone.
    g.block_on(
        LeasesClient::new(g.channel()).delete(v1::DeleteLeaseRequest {
            id: lease,
            sync: true,
        }),
    )
    .unwrap();
    for d in [&layer_digest, &config_digest, &manifest_digest] {
        assert!(has_blob(&g, d), "{d} of the created image was collected");
    }
}

#[test]
fn create_refuses_missing_blobs_bad_names_and_unknown_leases() {
    require!(root);
    let s = Shimd::start();
    let ns = unique("create-bad");
    let g = Grpc::connect(&s.socket(), &ns);
    let lease = g
        .block_on(LeasesClient::new(g.channel()).create(v1::CreateLeaseRequest::default()))
        .unwrap()
        .into_inner()
        .id;
    // A manifest whose layer was never written.
    let missing = sha256(b"never written");
    let (config, manifest_for) = config_and_manifest(&missing, 13);
    let config_digest = write(&g, &lease, &config);
    let manifest = manifest_for(&config_digest, config.len());
    let manifest_digest = write(&g, &lease, &manifest);
    let e = create(&g, "x/broken:1", &manifest_digest, manifest.len()).unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains(&missing) && e.message().contains("write it first"),
        "{}",
        e.message()
    );
    // A target that is not in the store.
    let e = create(&g, "x/broken:1", &sha256(b"no manifest"), 10).unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    // A name that is not one.
    let e = create(&g, "Bad Name", &manifest_digest, manifest.len()).unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    // Nothing was named.
    let list = g
        .block_on(ImagesClient::new(g.channel()).list(v1::ListImagesRequest::default()))
        .unwrap()
        .into_inner();
    assert!(list.images.is_empty(), "{:?}", list.images);
    // A write under a lease that does not exist is refused before anything is stored.
    let mut req = tonic::Request::new(tokio_stream::iter(vec![v1::WriteContentRequest {
        data: b"x".to_vec(),
        ..Default::default()
    }]));
    req.metadata_mut()
        .insert(berth_proto::LEASE_HEADER, "no-such-lease".parse().unwrap());
    let e = g
        .block_on(ContentClient::new(g.channel()).write(req))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(!has_blob(&g, &sha256(b"x")));
}

#[test]
fn changes_lists_added_modified_and_deleted_paths_with_their_directories() {
    require!(root);
    let s = Shimd::start();
    let img = build_image(
        &[
            busybox_layer(),
            layer_tar(&[Entry::Dir("data"), Entry::File("data/old", b"old")]),
        ],
        None,
    );
    let tar = s.dir.path().join("img.tar");
    std::fs::write(&tar, img.oci_archive("changes:v1")).unwrap();
    s.ctl_ok(&["images", "import", tar.to_str().unwrap()]);
    let detail: serde_json::Value =
        serde_json::from_str(&s.ctl_ok(&["images", "inspect", "changes:v1"])).unwrap();
    let chain = detail["chain_id"].as_str().unwrap().to_string();
    let key = unique("ctr");
    let mounts = s.ctl_ok(&["snapshots", "prepare", &key, &chain]);
    let at = tempfile::tempdir().unwrap();
    mount_lines(&mounts, at.path());
    let sh = format!(
        "cd {} && echo new > root/added && echo x >> etc/passwd && rm bin/ls data/old && mkdir -p a/b && touch a/b/f etc/hostname",
        at.path().display()
    );
    let ok = Command::new("sh")
        .args(["-c", &sh])
        .status()
        .unwrap()
        .success();
    umount(at.path());
    assert!(ok, "changing the snapshot");

    let g = Grpc::connect(&s.socket(), "default");
    let changes = |exclude: Vec<String>| {
        g.block_on(
            v1::snapshots_client::SnapshotsClient::new(g.channel()).changes(v1::ChangesRequest {
                key: key.clone(),
                exclude,
            }),
        )
        .map(|r| {
            r.into_inner()
                .changes
                .into_iter()
                .map(|c| format!("{} {}", ["C", "A", "D"][c.kind as usize], c.path))
                .collect::<Vec<_>>()
        })
    };
    let got = changes(vec!["/etc/hostname".into()]).expect("changes");
    assert_eq!(
        got,
        vec![
            "A /a",
            "A /a/b",
            "A /a/b/f",
            "C /bin",
            "D /bin/ls",
            "C /data",
            "D /data/old",
            "C /etc",
            "C /etc/passwd",
            "C /root",
            "A /root/added",
        ],
    );
    let all = changes(vec![]).unwrap();
    assert!(all.contains(&"A /etc/hostname".to_string()), "{all:?}");
    // Only a writable snapshot has changes; an unknown one is not found.
    let e = changes_of(&g, &chain).unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    let e = changes_of(&g, "no-such-key").unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    s.ctl_ok(&["snapshots", "rm", &key]);
}

fn changes_of(g: &Grpc, key: &str) -> Result<v1::ChangesResponse, tonic::Status> {
    g.block_on(
        v1::snapshots_client::SnapshotsClient::new(g.channel()).changes(v1::ChangesRequest {
            key: key.to_string(),
            exclude: vec![],
        }),
    )
    .map(|r| r.into_inner())
}

/// An image without layers (what `docker build` makes of `FROM scratch` and config steps
/// only) is created and imported unpacked: its rootfs is an empty snapshot with no
/// parent, so its chain ID is empty, and a container snapshot prepared on it is empty.
#[test]
fn an_image_without_layers_unpacks_to_an_empty_rootfs() {
    require!(root);
    let s = Shimd::start();
    let ns = unique("layerless");
    let g = Grpc::connect(&s.socket(), &ns);
    let lease = g
        .block_on(LeasesClient::new(g.channel()).create(v1::CreateLeaseRequest::default()))
        .unwrap()
        .into_inner()
        .id;
    let img = build_image(&[], None);
    for (digest, data) in &img.blobs {
        assert_eq!(&write(&g, &lease, data), digest);
    }
    create(&g, "x/layerless:1", &img.manifest_digest, img.manifest_size).expect("create");
    let d = g
        .block_on(
            ImagesClient::new(g.channel()).inspect(v1::InspectImageRequest {
                name: "docker.io/x/layerless:1".into(),
                platform: None,
            }),
        )
        .unwrap()
        .into_inner();
    assert!(
        d.unpacked && d.chain_id.is_empty() && d.layers.is_empty(),
        "{d:?}"
    );

    // The same image from an archive, through berthctl (default namespace).
    let tar = s.dir.path().join("layerless.tar");
    std::fs::write(&tar, img.oci_archive("layerless:v1")).unwrap();
    s.ctl_ok(&["images", "import", tar.to_str().unwrap()]);
    let detail: serde_json::Value =
        serde_json::from_str(&s.ctl_ok(&["images", "inspect", "layerless:v1"])).unwrap();
    let chain = detail["chain_id"].as_str().unwrap();
    assert_eq!(chain, "", "{detail}");
    assert_eq!(s.ctl_ok(&["images", "unpack", "layerless:v1"]), "\n");
    let key = unique("ctr");
    let mounts = s.ctl_ok(&["snapshots", "prepare", &key, chain]);
    let at = tempfile::tempdir().unwrap();
    mount_lines(&mounts, at.path());
    let entries = std::fs::read_dir(at.path()).unwrap().count();
    umount(at.path());
    assert_eq!(entries, 0, "the rootfs of an image without layers is empty");
    s.ctl_ok(&["snapshots", "rm", &key]);
}
