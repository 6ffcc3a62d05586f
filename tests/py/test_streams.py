"""Streams through docker-py: attach (streamed, hijacked with stdin, and plain HTTP), logs
(follow, since, until, tail, timestamps, stream selection), resize, and stats (streamed and
one-shot)."""

import datetime
import socket
import struct
import time

import support
from support import raw, wait_until


def frames(data):
    """Splits a multiplexed stream into (stream, payload) frames."""
    out = []
    while len(data) >= 8:
        kind, size = struct.unpack(">BxxxL", data[:8])
        out.append((kind, data[8:8 + size]))
        data = data[8 + size:]
    assert data == b"", f"trailing bytes after the frames: {data!r}"
    return out


def test_attach_streams_output_as_it_comes(client, janitor, name):
    c = janitor.container(client.containers.create(
        "busybox", ["sh", "-c", "echo one; sleep 0.5; echo two >&2; sleep 0.5; echo three"],
        name=name))
    stream = c.attach(stream=True, stdout=True, stderr=True, logs=True)
    c.start()
    got, first_at = [], None
    t0 = time.time()
    for chunk in stream:
        got.append(chunk)
        if first_at is None:
            first_at = time.time() - t0
    assert b"".join(got) == b"one\ntwo\nthree\n"
    assert first_at < 0.9, "the first line came only at the end"
    # After the exit, attach with logs replays the output and ends.
    assert c.attach(stdout=True, stderr=False, logs=True) == b"one\nthree\n"
    # demux separates the streams
    out, err = c.attach(stdout=True, stderr=True, logs=True, demux=True)
    assert (out, err) == (b"one\nthree\n", b"two\n")


def test_stdin_through_the_attach_socket(client, janitor, name):
    # (docker-py has no stdin_once; the docker CLI sets it for `run -i`)
    r = raw(client.api, "POST", f"/containers/create?name={name}", {
        "Image": "busybox", "Cmd": ["sh", "-c", "cat; echo bye"], "OpenStdin": True,
        "StdinOnce": True, "AttachStdin": True, "AttachStdout": True})
    assert r.status_code == 201, r.text
    c = janitor.container(client.containers.get(r.json()["Id"]))
    sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
    c.start()
    raw_sock = sock._sock
    raw_sock.sendall(b"through the socket\n")
    raw_sock.shutdown(socket.SHUT_WR)  # EOF on the container's stdin
    data = b""
    raw_sock.settimeout(10)
    while True:
        chunk = raw_sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert frames(data) == [(1, b"through the socket\n"), (1, b"bye\n")] or \
        b"".join(p for _, p in frames(data)) == b"through the socket\nbye\n"
    assert c.wait()["StatusCode"] == 0


def test_attach_without_upgrade_streams_multiplexed_output(client, api, janitor, name):
    c = janitor.container(client.containers.run(
        "busybox", ["sh", "-c", "echo a; echo b >&2; sleep 0.3; echo c"], name=name,
        detach=True))
    c.wait()
    r = raw(api, "POST", f"/containers/{c.id}/attach?logs=1&stdout=1&stderr=1")
    assert r.status_code == 200
    assert frames(r.content) == [(1, b"a\n"), (2, b"b\n"), (1, b"c\n")]


def test_logs_follow_since_until_tail_timestamps(client, janitor, name):
    c = janitor.container(client.containers.run(
        "busybox", ["sh", "-c", "echo a; echo err >&2; sleep 1.2; echo b; sleep 1.2; echo c"],
        name=name, detach=True))
    lines = []
    for chunk in c.logs(stream=True, follow=True):
        lines.append(chunk)
    assert b"".join(lines) == b"a\nerr\nb\nc\n"
    assert c.logs(stderr=False) == b"a\nb\nc\n"
    assert c.logs(stdout=False) == b"err\n"
    assert c.logs(tail=1) == b"c\n"
    assert c.logs(tail=2) == b"b\nc\n"
    assert c.logs(tail=0) == b""
    assert c.logs(tail="all") == b"a\nerr\nb\nc\n"
    stamped = c.logs(timestamps=True).decode().splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["a", "err", "b", "c"]
    times = [line.split(" ", 1)[0] for line in stamped]
    for ts in times:
        assert ts.endswith("Z") and "T" in ts and len(ts) > 20, ts
    parsed = [datetime.datetime.fromisoformat(ts[:26] + "+00:00") for ts in times]
    b_at = parsed[2].timestamp()
    assert c.logs(since=b_at - 0.2) == b"b\nc\n"
    assert c.logs(since=datetime.datetime.fromtimestamp(b_at - 0.2)) == b"b\nc\n"
    assert c.logs(until=b_at - 0.2) == b"a\nerr\n"
    assert c.logs(since=b_at - 0.2, until=b_at + 0.6) == b"b\n"
    # follow on an exited container ends at once
    assert b"".join(c.logs(stream=True, follow=True, tail=1)) == b"c\n"


def test_logs_of_a_tty_container_are_raw(client, janitor, name):
    c = janitor.container(client.containers.run("busybox", ["sh", "-c", "echo tty; echo e >&2"],
                                                name=name, detach=True, tty=True))
    c.wait()
    assert c.logs() == b"tty\r\ne\r\n"


def test_resize_reaches_the_containers_terminal(client, janitor, name):
    c = janitor.container(client.containers.run(
        "busybox", ["sh", "-c", "while :; do stty size; sleep 0.1; done"], name=name,
        detach=True, tty=True))
    wait_until("the first size", lambda: c.logs())
    c.resize(height=33, width=101)
    wait_until("the new size", lambda: b"33 101" in c.logs())


def test_stats_stream_and_one_shot(client, janitor, name):
    c = janitor.container(client.containers.run(
        "busybox", ["sh", "-c", "head -c 4000000 /dev/zero > /tmp/m; while :; do :; done"],
        name=name, detach=True))
    stream = c.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    stream.close()
    for s in (first, second):
        assert s["name"] == "/" + name and s["id"] == c.id
        assert s["pids_stats"]["current"] >= 1
        assert s["memory_stats"]["usage"] > 0
        assert s["memory_stats"]["limit"] > 0
        assert s["cpu_stats"]["online_cpus"] >= 1
        assert s["cpu_stats"]["system_cpu_usage"] > 0
        assert "blkio_stats" in s and "networks" in s
        if support.TARGET == "berthd":  # (dockerd runs here without a default bridge)
            assert s["networks"]["eth0"]["rx_packets"] >= 0
    assert second["cpu_stats"]["cpu_usage"]["total_usage"] > first["cpu_stats"]["cpu_usage"][
        "total_usage"]
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == \
        first["cpu_stats"]["cpu_usage"]["total_usage"]
    gap = (datetime.datetime.fromisoformat(second["read"][:26])
           - datetime.datetime.fromisoformat(first["read"][:26])).total_seconds()
    assert 0.5 <= gap <= 3, gap
    s = c.stats(stream=False)
    assert s["precpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > s["precpu_stats"]["cpu_usage"][
        "total_usage"]
    one = c.stats(stream=False, one_shot=True)
    assert one["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert one["memory_stats"]["usage"] > 0
    assert not one["precpu_stats"].get("cpu_usage", {}).get("total_usage")
