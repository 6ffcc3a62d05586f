"""Files in and out of containers through docker-py (the archive endpoints `docker cp`
uses): put_archive, get_archive with its stat header, and a missing path."""

import io
import tarfile

import docker
import pytest


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o640
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_archive_put_and_get(client, janitor, name):
    c = janitor.container(client.containers.run("busybox", ["sleep", "100"], name=name,
                                                detach=True))
    assert c.put_archive("/tmp", tar_of({"hello.txt": b"payload", "d/inner": b"x"}))
    assert c.exec_run("cat /tmp/hello.txt /tmp/d/inner").output == b"payloadx"
    assert c.exec_run("stat -c %a /tmp/hello.txt").output == b"640\n"
    bits, stat = c.get_archive("/tmp/hello.txt")
    assert stat["name"] == "hello.txt" and stat["size"] == 7
    with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as t:
        assert t.extractfile("hello.txt").read() == b"payload"
    bits, stat = c.get_archive("/tmp/d")
    with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as t:
        assert sorted(t.getnames()) == ["d", "d/inner"]
    with pytest.raises(docker.errors.NotFound):
        c.get_archive("/no/such/path")
    with pytest.raises(docker.errors.NotFound):
        c.put_archive("/no/such/dir", tar_of({"f": b"1"}))
    # A stopped container's files are reachable too.
    c.stop(timeout=0)
    bits, _ = c.get_archive("/tmp/hello.txt")
    with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as t:
        assert t.extractfile("hello.txt").read() == b"payload"
