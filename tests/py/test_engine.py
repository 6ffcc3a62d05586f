"""docker-py against berthd: the first-tier endpoints as docker-py calls them."""

import io
import os
import tarfile
import time

import docker
import pytest


def test_ping_version_info(client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.47"
    assert v["Os"] == "linux"
    info = client.info()
    assert info["OSType"] == "linux"
    assert info["Images"] >= 1


def test_run_returns_output_and_raises_on_failure(client, name):
    out = client.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True, stderr=True)
    assert b"hello" in out and b"err" in out
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "exit 3"], name=name, remove=True)
    assert e.value.exit_status == 3
    # (create, not run: run would try to pull it from docker.io)
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("no-such-image:9", "true")


def test_container_lifecycle(client, name):
    c = client.containers.run(
        "busybox", ["sh", "-c", "echo started; sleep 100"], name=name, detach=True,
        environment={"A": "1"}, labels={"suite": "py"},
    )
    try:
        c.reload()
        assert c.status == "running"
        assert c.name == name
        assert c.labels["suite"] == "py"
        assert "A=1" in c.attrs["Config"]["Env"]
        assert c.attrs["State"]["Running"] is True
        deadline = time.time() + 10
        while b"started" not in c.logs() and time.time() < deadline:
            time.sleep(0.1)
        assert c.logs() == b"started\n"
        assert c.logs(timestamps=True).split(b" ", 1)[1] == b"started\n"
        assert [x.name for x in client.containers.list(filters={"label": "suite=py"})] == [name]
        top = c.top()
        assert "PID" in top["Titles"]
        stats = c.stats(stream=False)
        assert "memory_stats" in stats and "cpu_stats" in stats
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        c.rename(name + "-b")
        c.reload()
        assert c.name == name + "-b"
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
        assert c.wait()["StatusCode"] == 137
        c.start()
        c.kill()
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name + "-b")


def test_exec_and_attach_socket(client, name):
    c = client.containers.run("busybox", ["sleep", "100"], name=name, detach=True)
    try:
        code, out = c.exec_run(["sh", "-c", "echo in; exit 4"])
        assert (code, out) == (4, b"in\n")
        code, out = c.exec_run("id -u", user="nobody")
        assert out.strip() == b"65534"
        code, out = c.exec_run("pwd", workdir="/tmp")
        assert out == b"/tmp\n"
        code, (stdout, stderr) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert (stdout, stderr) == (b"o\n", b"e\n")
        exec_id = client.api.exec_create(c.id, "true")["Id"]
        client.api.exec_start(exec_id)
        assert client.api.exec_inspect(exec_id)["ExitCode"] == 0
    finally:
        c.remove(force=True)


def test_stdin_through_the_attach_socket(client, name):
    c = client.containers.create("busybox", ["cat"], name=name, stdin_open=True)
    try:
        sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
        c.start()
        raw = sock._sock
        raw.sendall(b"through the socket\n")
        raw.shutdown(1)  # EOF on the container's stdin
        data = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b"through the socket" in data
        assert c.wait()["StatusCode"] == 0
    finally:
        c.remove(force=True)


def test_archive_put_and_get(client, name):
    c = client.containers.run("busybox", ["sleep", "100"], name=name, detach=True)
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = b"payload"
            info = tarfile.TarInfo("hello.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        assert c.put_archive("/tmp", buf.getvalue())
        bits, stat = c.get_archive("/tmp/hello.txt")
        assert stat["name"] == "hello.txt" and stat["size"] == 7
        raw = b"".join(bits)
        with tarfile.open(fileobj=io.BytesIO(raw)) as t:
            assert t.extractfile("hello.txt").read() == b"payload"
        with pytest.raises(docker.errors.NotFound):
            c.get_archive("/no/such/path")
    finally:
        c.remove(force=True)


def test_images(client):
    img = client.images.get("busybox")
    assert "busybox:latest" in img.tags
    assert img.id.startswith("sha256:")
    assert img.attrs["Config"]["Cmd"]
    assert "ContainerConfig" in img.attrs  # read by docker-compose 1.x
    assert img.history()[0]["Id"] == img.id
    img.tag("py-tagged", "v1")
    assert "py-tagged:v1" in client.images.get("py-tagged:v1").tags
    data = b"".join(client.images.get("py-tagged:v1").save())
    client.images.remove("py-tagged:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("py-tagged:v1")
    loaded = client.images.load(data)
    assert any("py-tagged:v1" in i.tags for i in loaded)
    client.images.remove("py-tagged:v1")
    assert any("busybox:latest" in i.tags for i in client.images.list())


def test_events_and_prune(client, name):
    since = int(time.time())
    client.containers.run("busybox", "true", name=name)
    until = int(time.time()) + 1
    actions = [e["Action"] for e in client.events(since=since, until=until, decode=True,
                                                   filters={"container": name})]
    assert "create" in actions and "start" in actions and "die" in actions
    cid = client.containers.get(name).id
    pruned = client.containers.prune()
    assert cid in pruned["ContainersDeleted"]
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)
    df = client.df()
    assert "Images" in df and "Containers" in df


def test_errors_carry_dockers_status(client, name):
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", name="bad name")
    assert e.value.status_code == 400
    c = client.containers.create("busybox", "true", name=name)
    try:
        with pytest.raises(docker.errors.APIError) as e:
            client.containers.create("busybox", "true", name=name)
        assert e.value.status_code == 409
    finally:
        c.remove()
