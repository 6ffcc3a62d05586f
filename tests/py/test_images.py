"""Images through docker-py, with registries on loopback: push and pull (progress streams,
digests, credentials), list with filters, inspect, history, tag, remove and its conflicts,
prune, save (one image and several) and load."""

import io
import json
import os
import tarfile

import docker
import pytest

import support


@pytest.fixture
def derived(client, janitor, name):
    """Loads an image of its own (busybox's layer, a label added) named `<name>:v1`."""
    data = support.derived_archive(os.environ["BERTH_BUSYBOX_ARCHIVE"], f"{name}:v1",
                                   {"py-image": name})
    janitor.image(f"{name}:v1")
    (img,) = client.images.load(data)
    return img


def test_inspect_list_and_history(client, api):
    img = client.images.get("busybox")
    a = img.attrs
    assert a["Id"].startswith("sha256:") and len(a["Id"]) == 71
    assert "busybox:latest" in a["RepoTags"]
    assert a["Os"] == "linux" and a["Architecture"] == "amd64"
    assert a["Size"] > 1_000_000
    assert a["RootFS"]["Type"] == "layers" and len(a["RootFS"]["Layers"]) == 1
    assert a["Config"]["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") for e in a["Config"]["Env"])
    assert "ContainerConfig" in a  # read by docker-compose 1.x
    assert "GraphDriver" in a and "Created" in a
    assert client.images.get(img.id).id == img.id
    assert client.images.get(img.short_id.split(":")[1]).id == img.id
    rows = api.images(name="busybox")
    assert len(rows) == 1
    row = rows[0]
    assert row["Id"] == img.id and row["RepoTags"] == ["busybox:latest"]
    assert isinstance(row["Created"], int) and row["Size"] == a["Size"]
    for key in ("ParentId", "RepoDigests", "SharedSize", "Labels", "Containers"):
        assert key in row, key
    assert api.images(name="busybox", quiet=True) == [img.id]
    hist = img.history()
    assert hist[0]["Id"] == img.id
    assert "busybox:latest" in hist[0]["Tags"]
    assert sum(h["Size"] for h in hist) == a["Size"]
    for h in hist:
        assert {"Created", "CreatedBy", "Size", "Comment"} <= set(h)


def test_list_filters(client, derived, name):
    ids = {i.id for i in client.images.list(filters={"label": f"py-image={name}"})}
    assert ids == {derived.id}
    assert {i.id for i in client.images.list(filters={"reference": f"{name}:*"})} == {
        derived.id}
    assert {i.id for i in client.images.list(name=name)} == {derived.id}
    assert client.images.list(filters={"dangling": True}) == []
    busybox = client.images.get("busybox").id
    assert {i.id for i in client.images.list(filters={"before": f"{name}:v1"})} >= set() and \
        derived.id not in {i.id for i in client.images.list(filters={"before": f"{name}:v1"})}
    assert busybox in {i.id for i in client.images.list()}


def test_tag_and_remove(client, janitor, derived, name):
    assert derived.tag(name, "v2") is True
    assert derived.tag(f"{name}/sub", "latest") is True
    janitor.image(f"{name}:v2")
    janitor.image(f"{name}/sub:latest")
    derived.reload()
    assert sorted(derived.tags) == sorted([f"{name}:v1", f"{name}:v2", f"{name}/sub:latest"])
    with pytest.raises(docker.errors.APIError) as e:
        derived.tag(name, "Bad Tag")
    assert e.value.status_code == 400
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.tag("no-such-image:1", name, "x")
    # Removing one of several names only untags.
    res = client.api.remove_image(f"{name}:v2")
    assert res == [{"Untagged": f"{name}:v2"}]
    # An image a container uses cannot go without force.
    c = janitor.container(client.containers.create(f"{name}:v1", "true", name=name))
    with pytest.raises(docker.errors.APIError) as e:
        client.api.remove_image(derived.id)
    assert e.value.status_code == 409
    assert "conflict" in str(e.value)
    c.remove()
    client.api.remove_image(f"{name}/sub:latest")
    res = client.api.remove_image(f"{name}:v1")
    assert {"Untagged": f"{name}:v1"} in res
    assert {"Deleted": derived.id} in res
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(derived.id)
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.remove_image(f"{name}:v1")


def test_prune_removes_unused_images_only(client, janitor, derived, name):
    res = client.images.prune(filters={"dangling": False, "label": f"py-image={name}"})
    assert {"Untagged": f"{name}:v1"} in res["ImagesDeleted"]
    assert {"Deleted": derived.id} in res["ImagesDeleted"]
    assert res["SpaceReclaimed"] >= 0
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(derived.id)
    assert client.images.get("busybox")
    # dangling-only (the default) finds nothing: every image has a name
    assert client.images.prune()["ImagesDeleted"] in (None, [])


def _archive_tags(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        manifest = json.load(t.extractfile("manifest.json"))
    return sorted(tag for m in manifest for tag in m["RepoTags"])


def test_save_and_load(client, api, janitor, derived, name):
    data = b"".join(derived.save(named=True))
    assert _archive_tags(data) == [f"{name}:v1"]
    r = support.raw(api, "GET", "/images/get",
                    params={"names": [f"{name}:v1", "busybox:latest"]})
    assert r.status_code == 200
    both = r.content
    assert _archive_tags(both) == sorted([f"{name}:v1", "busybox:latest"])
    client.images.remove(f"{name}:v1")
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [derived.id]
    assert f"{name}:v1" in client.images.get(derived.id).tags
    stream = list(api.load_image(data, quiet=False))
    assert any("Loaded image: " + f"{name}:v1" in (x.get("stream") or "") for x in stream), \
        stream
    # A broken archive: the load answers 200 and reports the error in its stream, as
    # dockerd does; nothing is loaded.
    before = client.api.images(quiet=True)
    with pytest.raises(docker.errors.ImageLoadError):
        client.images.load(b"this is not a tar archive")
    r = support.raw(api, "POST", "/images/load", b"not a tar", content_type="application/x-tar")
    assert r.status_code == 200
    assert "error" in json.loads(r.text.strip().splitlines()[-1]), r.text
    assert client.api.images(quiet=True) == before
    with pytest.raises(docker.errors.ImageNotFound):
        b"".join(client.api.get_image("no-such-image:1"))


def test_push_and_pull_through_a_loopback_registry(client, api, janitor, derived, registry,
                                                   name):
    repo = f"{registry.host}/{name}"
    janitor.image(f"{repo}:v1")
    derived.tag(repo, "v1")
    progress = list(api.push(repo, tag="v1", stream=True, decode=True))
    errors = [p for p in progress if "error" in p or "errorDetail" in p]
    assert errors == [], errors
    assert progress[0]["status"].startswith("The push refers to repository")
    aux = [p["aux"] for p in progress if "aux" in p]
    assert len(aux) == 1 and aux[0]["Tag"] == "v1" and aux[0]["Digest"].startswith("sha256:")
    digest = aux[0]["Digest"]
    assert any(p.get("status", "").startswith(f"v1: digest: {digest}") for p in progress)
    assert registry.tags(name) == ["v1"]
    # Pushing again: every layer is already there.
    again = list(api.push(repo, tag="v1", stream=True, decode=True))
    assert any(p.get("status") == "Layer already exists" for p in again), again

    client.images.remove(f"{repo}:v1")
    progress = list(api.pull(repo, tag="v1", stream=True, decode=True))
    statuses = [p.get("status", "") for p in progress]
    assert any(s.startswith("Pulling from") or s.startswith("v1: Pulling from")
               for s in statuses), statuses
    assert f"Digest: {digest}" in statuses, statuses
    assert f"Status: Downloaded newer image for {repo}:v1" in statuses, statuses
    img = client.images.get(f"{repo}:v1")
    assert img.id == derived.id
    assert f"{repo}@{digest}" in img.attrs["RepoDigests"]
    pulled = client.images.pull(repo, tag="v1")
    assert pulled.id == derived.id
    statuses = [p.get("status", "") for p in api.pull(repo, tag="v1", stream=True, decode=True)]
    assert f"Status: Image is up to date for {repo}:v1" in statuses, statuses
    with pytest.raises(docker.errors.NotFound):
        client.images.pull(repo, tag="nope")
    with pytest.raises(docker.errors.NotFound):
        api.push(f"{repo}-missing", tag="v1")

def test_credentials_reach_the_registry(client, api, janitor, derived, auth_registry, name):
    repo = f"{auth_registry.host}/{name}"
    janitor.image(f"{repo}:v1")
    derived.tag(repo, "v1")
    denied = list(api.push(repo, tag="v1", stream=True, decode=True,
                           auth_config={"username": "py", "password": "wrong"}))
    assert any("error" in p for p in denied), denied
    ok = list(api.push(repo, tag="v1", stream=True, decode=True,
                       auth_config={"username": "py", "password": "secret-pw"}))
    assert not any("error" in p for p in ok), ok
    client.images.remove(f"{repo}:v1")
    with pytest.raises(docker.errors.APIError):
        client.images.pull(repo, tag="v1", auth_config={"username": "py", "password": "no"})
    img = client.images.pull(repo, tag="v1",
                             auth_config={"username": "py", "password": "secret-pw"})
    assert img.id == derived.id


def test_commit_export_and_import(client, api, janitor, name, tmp_path):
    """container.commit (message, author, changes), container.export and
    api.import_image from a file and from bytes, as dockerd answers them."""
    c = client.containers.run("busybox", ["sh", "-c", "echo new > /root/added; rm /bin/ls"],
                              name=name, detach=True)
    janitor.container(c)
    assert c.wait()["StatusCode"] == 0
    kinds = {ch["Path"]: ch["Kind"] for ch in c.diff()}
    assert kinds["/root/added"] == 1 and kinds["/bin/ls"] == 2 and kinds["/root"] == 0

    janitor.image(f"{name}:committed")
    img = c.commit(repository=name, tag="committed", message="py commit", author="py",
                   changes=['CMD ["cat", "/root/added"]', "ENV FROM_PY=1"])
    assert img.id.startswith("sha256:")
    assert img.attrs["Author"] == "py" and img.attrs["Comment"] == "py commit"
    assert "FROM_PY=1" in img.attrs["Config"]["Env"]
    assert img.history()[0]["Comment"] == "py commit"
    out = client.containers.run(f"{name}:committed", remove=True)
    assert out == b"new\n"

    with pytest.raises(docker.errors.APIError) as e:
        c.commit(repository=name, tag="bad", changes=["RUN true"])
    assert e.value.status_code == 400
    assert "run is not a valid change command" in str(e.value)

    tar_path = tmp_path / "fs.tar"
    with open(tar_path, "wb") as f:
        for chunk in c.export():
            f.write(chunk)
    with tarfile.open(tar_path) as t:
        names = t.getnames()
    assert "root/added" in names and "bin/ls" not in names

    janitor.image(f"{name}:imported")
    out = api.import_image(src=str(tar_path), repository=name, tag="imported",
                           changes=['CMD ["cat", "/root/added"]'])
    status = json.loads(out.strip().splitlines()[-1])["status"]
    assert status == client.images.get(f"{name}:imported").id
    assert client.containers.run(f"{name}:imported", remove=True) == b"new\n"

    janitor.image(f"{name}:from-bytes")
    api.import_image_from_data(tar_path.read_bytes(), repository=name, tag="from-bytes")
    hist = client.images.get(f"{name}:from-bytes").history()
    assert hist[0]["Comment"] == "Imported from -"
