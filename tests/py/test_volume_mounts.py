"""Volumes through docker-py: create (labels, driver options), get, list with filters, remove
(in use, force), prune; containers with named and anonymous volumes, binds, tmpfs mounts
and volumes_from; data that outlives its container; the errors dockerd gives."""

import docker
import pytest

import support


def test_create_get_list_remove(client, janitor, name):
    opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    v = janitor.volume(client.volumes.create(name, driver="local", labels={"py-vol": name},
                                             driver_opts=opts))
    a = v.attrs
    assert (a["Name"], a["Driver"], a["Scope"]) == (name, "local", "local")
    assert a["Labels"] == {"py-vol": name}
    assert a["Options"] == opts
    assert a["Mountpoint"].endswith(f"/volumes/{name}/_data")
    assert "CreatedAt" in a
    assert client.volumes.get(name).id == name
    assert [x.name for x in client.volumes.list(filters={"label": f"py-vol={name}"})] == [name]
    assert name in [x.name for x in client.volumes.list(filters={"name": name})]
    assert name in [x.name for x in client.volumes.list(filters={"dangling": True})]
    # Asking again for the same volume gives it back.
    assert client.volumes.create(name, driver_opts=opts).name == name
    v.remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(name)
    with pytest.raises(docker.errors.NotFound):
        client.api.remove_volume(name)
    # (docker-py's remove_volume drops its force parameter, so it goes raw.)
    r = support.raw(client.api, "DELETE", f"/volumes/{name}", params={"force": "1"})
    assert r.status_code == 204, r.text


def test_data_outlives_containers_and_in_use_volumes_stay(client, janitor, name):
    janitor.volume(name)
    client.containers.run("busybox", ["sh", "-c", "echo kept > /d/f"],
                          volumes={name: {"bind": "/d", "mode": "rw"}}, remove=True)
    c = janitor.container(client.containers.create("busybox", "sleep 60", name=name,
                                                   volumes=[f"{name}:/d:ro"]))
    m = client.api.inspect_container(c.id)["Mounts"]
    assert m == [{"Type": "volume", "Name": name, "Source": client.volumes.get(name).attrs["Mountpoint"],
                  "Destination": "/d", "Driver": "local", "Mode": "ro", "RW": False,
                  "Propagation": ""}]
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.get(name).remove()
    assert e.value.status_code == 409
    assert f"remove {name}: volume is in use - [{c.id}]" in str(e.value)
    assert name in [x.name for x in client.volumes.list(filters={"dangling": False})]
    c.remove()
    out = client.containers.run("busybox", "cat /d/f", volumes=[f"{name}:/d"], remove=True)
    assert out == b"kept\n"


def test_anonymous_volumes_mounts_binds_and_volumes_from(client, janitor, name, tmp_path):
    (tmp_path / "in").write_text("host\n")
    src = janitor.container(client.containers.create(
        "busybox", ["sh", "-c", "echo shared > /anon/f; cat /host/in"],
        name=name, volumes=[f"{tmp_path}:/host:ro"],
        mounts=[docker.types.Mount("/anon", None, type="volume")]))
    src.start()
    assert src.wait()["StatusCode"] == 0
    assert src.logs() == b"host\n"
    mounts = {m["Destination"]: m for m in client.api.inspect_container(src.id)["Mounts"]}
    anon = mounts["/anon"]
    assert anon["Type"] == "volume" and len(anon["Name"]) == 64 and anon["RW"] is True
    assert mounts["/host"]["Type"] == "bind" and mounts["/host"]["RW"] is False
    out = client.containers.run(
        "busybox", ["sh", "-c", "df -k /t | tail -1 | tr -s ' ' | cut -d' ' -f2"], remove=True,
        mounts=[docker.types.Mount("/t", None, type="tmpfs", tmpfs_size=1 << 20)])
    assert out == b"1024\n"
    out = client.containers.run("busybox", ["sh", "-c", "cat /anon/f; touch /anon/x || echo ro"],
                                volumes_from=[f"{name}:ro"], remove=True)
    assert out == b"shared\nro\n"
    # A named volume through Mount, not filled (nocopy) and labelled at creation.
    vol = janitor.volume(name + "-m")
    out = client.containers.run("busybox", "ls -A /etc", remove=True, mounts=[
        docker.types.Mount("/etc", vol, type="volume", no_copy=True, labels={"py": name})])
    # Only the files the engine binds there (their mount points), nothing from the image.
    assert out == b"hostname\nhosts\nresolv.conf\n"
    assert client.volumes.get(vol).attrs["Labels"] == {"py": name}
    src.remove(v=True)
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(anon["Name"])


def test_prune(client, janitor, name):
    anon = client.volumes.create(labels={"py-prune": name})
    named = janitor.volume(client.volumes.create(name, labels={"py-prune": name}))
    r = client.volumes.prune(filters={"label": f"py-prune={name}"})
    if support.TARGET == "dockerd":
        # dockerd 20.10 (API 1.41) prunes named volumes too.
        assert sorted(r["VolumesDeleted"]) == sorted([anon.name, named.name])
        return
    # From API 1.42 on, only anonymous volumes unless all=true.
    assert r["VolumesDeleted"] == [anon.name]
    assert r["SpaceReclaimed"] == 0
    r = client.volumes.prune(filters={"label": f"py-prune={name}", "all": "true"})
    assert r["VolumesDeleted"] == [named.name]


def test_volume_errors(api, name):
    for body, status, text in [
        ({"Name": "a/b"}, 400, "includes invalid characters for a local volume name"),
        ({"Name": name, "DriverOpts": {"colour": "blue"}}, 400, "invalid option: \"colour\""),
        ({"Name": name, "DriverOpts": {"type": "tmpfs"}}, 400, "missing required option: \"device\""),
    ]:
        r = support.raw(api, "POST", "/volumes/create", body)
        assert r.status_code == status, r.text
        assert text in support.message(r)
    r = support.raw(api, "GET", "/volumes/" + name)
    assert (r.status_code, support.message(r)) == (404, f"get {name}: no such volume")
    r = support.raw(api, "POST", "/containers/create",
                    {"Image": "busybox", "HostConfig": {"Binds": ["./rel:/x"]}})
    assert r.status_code == 400
    assert "includes invalid characters for a local volume name" in support.message(r)
    r = support.raw(api, "POST", "/containers/create",
                    {"Image": "busybox", "HostConfig": {"Binds": ["/x:/y:bogus"]}})
    assert (r.status_code, support.message(r)) == (support.expected(400, 500), "invalid mode: bogus")
    r = support.raw(api, "GET", "/volumes", params={"filters": '{"colour":["x"]}'})
    assert r.status_code == 400
