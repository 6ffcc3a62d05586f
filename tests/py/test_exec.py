"""Exec through docker-py: create (user, workdir, env, tty), start (attached, streamed,
demuxed, detached, hijacked with stdin), inspect and resize."""

import socket

import docker
import pytest

from support import wait_until


@pytest.fixture
def box(client, janitor, name):
    return janitor.container(client.containers.run("busybox", "sleep 120", name=name,
                                                   detach=True))


def test_exec_run_output_exit_code_user_workdir_env(box):
    assert box.exec_run(["sh", "-c", "echo in; exit 4"]) == (4, b"in\n")
    assert box.exec_run("id -u", user="nobody").output == b"65534\n"
    assert box.exec_run("pwd", workdir="/tmp").output == b"/tmp\n"
    assert box.exec_run(["sh", "-c", "echo $V"], environment={"V": "x y"}).output == b"x y\n"
    code, (out, err) = box.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    code, out = box.exec_run(["sh", "-c", "echo o; echo e >&2"], stderr=False)
    assert out == b"o\n"
    # A tty exec gets a terminal and raw output.
    code, out = box.exec_run(["sh", "-c", "tty; echo e >&2"], tty=True)
    assert out.decode().splitlines()[0].startswith("/dev/pts/"), out
    assert out.endswith(b"e\r\n")
    code, out = box.exec_run("/no/such/binary")
    assert code == 126 or code == 127, (code, out)


def test_exec_streams_and_detaches(client, box):
    res = box.exec_run(["sh", "-c", "echo 1; sleep 0.4; echo 2"], stream=True)
    assert res.exit_code is None
    assert b"".join(res.output) == b"1\n2\n"
    code, out = box.exec_run(["sh", "-c", "echo detached > /tmp/d"], detach=True)
    assert not out
    wait_until("the detached exec", lambda: box.exec_run("cat /tmp/d").output == b"detached\n")


def test_exec_inspect_through_its_life(client, api, box):
    e = api.exec_create(box.id, ["sh", "-c", "read x; exit 3"], stdin=True, user="nobody",
                        workdir="/tmp", environment=["K=v"])
    i = api.exec_inspect(e["Id"])
    assert i["ID"] == e["Id"]
    assert i["ContainerID"] == box.id
    assert i["Running"] is False and i["ExitCode"] is None
    assert i["OpenStdin"] is True and i["OpenStdout"] is True
    assert i["ProcessConfig"]["entrypoint"] == "sh"
    assert i["ProcessConfig"]["arguments"] == ["-c", "read x; exit 3"]
    assert i["ProcessConfig"]["user"] == "nobody"
    sock = api.exec_start(e["Id"], socket=True)
    raw = sock._sock
    i = wait_until("the exec to run", lambda: (lambda i: i if i["Pid"] else None)(
        api.exec_inspect(e["Id"])))
    assert i["Running"] is True
    raw.sendall(b"line\n")
    raw.shutdown(socket.SHUT_WR)
    raw.settimeout(10)
    while raw.recv(4096):
        pass
    sock.close()
    wait_until("the exec's end", lambda: not api.exec_inspect(e["Id"])["Running"])
    i = api.exec_inspect(e["Id"])
    assert i["ExitCode"] == 3
    # Starting it again is a conflict.
    with pytest.raises(docker.errors.APIError) as err:
        api.exec_start(e["Id"])
    assert err.value.status_code == 409


def test_exec_resize_reaches_its_terminal(client, api, box):
    e = api.exec_create(box.id, ["sh", "-c", "sleep 0.5; stty size"], tty=True)
    sock = api.exec_start(e["Id"], tty=True, socket=True)
    wait_until("the exec to run", lambda: api.exec_inspect(e["Id"])["Running"])
    api.exec_resize(e["Id"], height=27, width=88)
    raw = sock._sock
    raw.settimeout(10)
    data = b""
    while True:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert b"27 88" in data, data
    with pytest.raises(docker.errors.NotFound):
        api.exec_resize("no-such-exec", height=10, width=10)


def test_exec_in_a_stopped_container_conflicts(client, janitor, name):
    c = janitor.container(client.containers.create("busybox", "true", name=name))
    with pytest.raises(docker.errors.APIError) as e:
        c.exec_run("true")
    assert e.value.status_code == 409
    assert "is not running" in str(e.value)
