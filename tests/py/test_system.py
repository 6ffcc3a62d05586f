"""System endpoints through docker-py: /_ping, /version (and negotiation), /info, /events,
/system/df and /auth."""

import os
import threading
import time

import docker
import pytest

import support
from support import raw, wait_until


def test_ping_answers_get_and_head_with_version_headers(client, api):
    assert client.ping() is True
    for method in ("GET", "HEAD"):
        r = raw(api, method, "/_ping")
        assert r.status_code == 200
        assert r.text == ("OK" if method == "GET" else "")
        assert r.headers["Api-Version"] == client.version()["ApiVersion"]
        assert r.headers["Ostype"] == "linux"
        assert "no-cache" in r.headers["Cache-Control"]


def test_version_describes_the_engine_and_kernel(client):
    v = client.version()
    assert v["Os"] == "linux"
    assert v["Arch"] == "amd64"
    assert v["KernelVersion"] == os.uname().release
    assert v["Version"]
    assert tuple(map(int, v["MinAPIVersion"].split("."))) <= (1, 24)
    assert any(c["Name"] == "Engine" for c in v["Components"])


@pytest.mark.berthd_only
def test_berthd_advertises_api_1_47(client):
    assert client.version()["ApiVersion"] == "1.47"


def test_older_api_versions_are_served_and_too_new_ones_refused(client):
    old = docker.APIClient(base_url=os.environ["BERTH_HOST"], version="1.24")
    try:
        assert old.version()["Os"] == "linux"
        assert any("busybox:latest" in (i["RepoTags"] or []) for i in old.images())
    finally:
        old.close()
    new = docker.APIClient(base_url=os.environ["BERTH_HOST"], version="1.99")
    try:
        with pytest.raises(docker.errors.APIError) as e:
            new.containers()
        assert e.value.status_code == 400
        assert "client version 1.99 is too new" in str(e.value)
    finally:
        new.close()


def test_info_counts_containers_by_state(client, janitor, name):
    before = client.info()
    janitor.container(client.containers.run("busybox", "sleep 60", name=name + "-run",
                                            detach=True))
    janitor.container(client.containers.create("busybox", "true", name=name + "-new"))
    paused = janitor.container(client.containers.run("busybox", "sleep 60", name=name + "-p",
                                                     detach=True))
    paused.pause()
    info = client.info()
    assert info["Containers"] == before["Containers"] + 3
    assert info["ContainersRunning"] == before["ContainersRunning"] + 1
    assert info["ContainersPaused"] == before["ContainersPaused"] + 1
    assert info["ContainersStopped"] == before["ContainersStopped"] + 1
    assert info["Images"] >= 1
    assert info["NCPU"] == os.cpu_count()
    assert info["MemTotal"] > 0
    assert info["OSType"] == "linux"
    assert info["Architecture"] == "x86_64"
    assert info["KernelVersion"] == os.uname().release
    assert info["LoggingDriver"] == "json-file"
    assert info["ServerVersion"] == client.version()["Version"]
    for key in ("ID", "Name", "Driver", "DockerRootDir", "OperatingSystem", "CgroupDriver",
                "Runtimes", "DefaultRuntime", "SecurityOptions", "RegistryConfig", "Swarm",
                "IndexServerAddress", "Plugins", "Labels"):
        assert key in info, key
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    paused.unpause()


def _collect_events(client, stop_action, filters, out, ready):
    stream = client.events(decode=True, filters=filters)
    out.append(stream)
    ready.set()
    for e in stream:
        out.append(e)
        if e.get("Action") == stop_action:
            break


def test_events_stream_live_with_docker_fields(client, name):
    out, ready = [], threading.Event()
    t = threading.Thread(target=_collect_events,
                         args=(client, "destroy", {"container": name}, out, ready), daemon=True)
    t.start()
    ready.wait(10)
    time.sleep(0.3)  # the stream is registered once its headers came back
    c = client.containers.run("busybox", "true", name=name, detach=True, labels={"k": "v"})
    c.wait()
    c.remove()
    t.join(15)
    stream, events = out[0], out[1:]
    stream.close()
    assert not t.is_alive(), f"the event stream did not deliver destroy: {events}"
    actions = [e["Action"] for e in events]
    assert actions[:2] == ["create", "start"], actions
    assert "die" in actions and actions[-1] == "destroy", actions
    die = next(e for e in events if e["Action"] == "die")
    assert die["Type"] == "container"
    assert die["Actor"]["ID"] == c.id
    assert die["Actor"]["Attributes"]["name"] == name
    assert die["Actor"]["Attributes"]["image"] == "busybox"
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    assert die["Actor"]["Attributes"]["k"] == "v"
    assert die["status"] == "die" and die["id"] == c.id and die["from"] == "busybox"
    assert die["scope"] == "local"
    assert abs(die["time"] - time.time()) < 60
    assert die["timeNano"] // 10**9 == die["time"]


def test_events_since_until_and_type_filters(client, name):
    since = int(time.time())
    img = client.images.get("busybox")
    img.tag(name, "v1")
    client.images.remove(f"{name}:v1")
    c = client.containers.create("busybox", "true", name=name)
    c.remove()
    until = int(time.time()) + 1
    images = list(client.events(since=since, until=until, decode=True,
                                filters={"type": "image"}))
    tagged = [e for e in images if e["Action"] == "tag"
              and e["Actor"]["Attributes"].get("name") == f"{name}:v1"]
    assert tagged and tagged[0]["Actor"]["ID"] == img.id, images
    assert any(e["Action"] == "untag" for e in images), images
    assert all(e["Type"] == "image" for e in images)
    created = list(client.events(since=since, until=until, decode=True,
                                 filters={"event": "create", "container": name}))
    assert [e["Action"] for e in created] == ["create"]
    # until in the past: the stream ends at once with what happened before it
    assert list(client.events(since=since, until=since, decode=True,
                              filters={"container": name})) == []


def test_disk_usage_counts_images_containers_and_their_writes(client, janitor, name):
    c = janitor.container(client.containers.run(
        "busybox", ["sh", "-c", "head -c 1048576 /dev/zero > /big; sleep 60"], name=name,
        detach=True))
    wait_until("the file written", lambda: c.exec_run("ls /big").exit_code == 0)
    time.sleep(0.2)
    df = client.df()
    assert df["LayersSize"] > 0
    # no build cache: null, as dockerd 20.10 answers
    assert isinstance(df["Volumes"], list) and df["BuildCache"] is None
    mine = [x for x in df["Containers"] if x["Id"] == c.id]
    assert len(mine) == 1
    assert mine[0]["Names"] == ["/" + name]
    assert mine[0]["SizeRw"] >= 1048576
    assert mine[0]["State"] == "running"
    bb = [i for i in df["Images"] if "busybox:latest" in (i["RepoTags"] or [])]
    assert len(bb) == 1
    assert bb[0]["Containers"] >= 1
    assert bb[0]["Size"] > 0


def test_login_checks_credentials_with_the_registry(client, auth_registry):
    r = client.login("py", "secret-pw", registry=auth_registry.host, reauth=True)
    assert r["Status"] == "Login Succeeded"
    with pytest.raises(docker.errors.APIError) as e:
        client.login("py", "wrong", registry=auth_registry.host, reauth=True)
    assert e.value.status_code == 401, e.value
    assert "unauthorized" in str(e.value).lower() or "401" in str(e.value)
    unreachable = f"127.0.0.1:{support.free_port()}"
    with pytest.raises(docker.errors.APIError) as e:
        client.login("py", "pw", registry=unreachable, reauth=True)
    assert e.value.status_code in (500, 401), e.value
