"""Containers through docker-py: create (options reach inspect and the process), list with
filters, inspect, start/stop/restart/kill, wait conditions, rename, top, pause/unpause,
prune and remove."""

import threading
import time

import docker
import pytest

import support
from support import wait_until


def test_run_returns_output_and_raises_on_failure(client, janitor, name):
    out = client.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True,
                                stderr=True)
    assert b"hello" in out and b"err" in out
    with pytest.raises(docker.errors.ContainerError) as e:
        janitor.container(name)
        client.containers.run("busybox", ["sh", "-c", "echo why >&2; exit 3"], name=name)
    assert e.value.exit_status == 3
    assert b"why" in e.value.stderr
    # (create, not run: run would try to pull it from docker.io)
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("no-such-image:9", "true")


def test_create_options_reach_inspect_and_the_process(client, janitor, name, tmp_path):
    (tmp_path / "in.txt").write_text("from the host")
    tmp_path.chmod(0o755)  # readable by the container's user
    c = janitor.container(client.containers.create(
        "busybox",
        ["-c", "echo $A $(id -u):$(id -g) $(pwd) $(hostname) $(cat /host/in.txt); "
               "grep db /etc/hosts; ulimit -n; cat /sys/fs/cgroup/pids/pids.max; "
               "touch /rofs 2>/dev/null || echo read-only; touch /scratch/ok && echo tmpfs-ok"],
        entrypoint=["sh"], name=name, environment={"A": "1"}, working_dir="/tmp",
        user="65534:65534", hostname="box", labels={"suite": "py"}, stop_signal="SIGUSR1",
        mem_limit="64m", cpu_shares=512, nano_cpus=500_000_000, pids_limit=50, read_only=True,
        cap_drop=["NET_RAW"], extra_hosts={"db": "10.1.2.3"}, network_mode="none",
        ulimits=[docker.types.Ulimit(name="nofile", soft=512, hard=1024)],
        tmpfs={"/scratch": "size=1m"}, volumes={str(tmp_path): {"bind": "/host", "mode": "ro"}},
    ))
    a = client.api.inspect_container(c.id)
    cfg, hc = a["Config"], a["HostConfig"]
    assert a["Name"] == "/" + name
    assert a["State"]["Status"] == "created"
    assert cfg["Entrypoint"] == ["sh"] and cfg["Cmd"][0] == "-c"
    assert "A=1" in cfg["Env"]
    assert (cfg["WorkingDir"], cfg["User"], cfg["Hostname"]) == ("/tmp", "65534:65534", "box")
    assert cfg["Labels"] == {"suite": "py"}
    assert cfg["StopSignal"] == "SIGUSR1"
    assert cfg["Image"] == "busybox"
    assert hc["Memory"] == 64 * 1024 * 1024
    assert (hc["CpuShares"], hc["NanoCpus"], hc["PidsLimit"]) == (512, 500_000_000, 50)
    assert hc["ReadonlyRootfs"] is True
    assert hc["CapDrop"] == ["NET_RAW"]
    assert hc["ExtraHosts"] == ["db:10.1.2.3"]
    assert hc["NetworkMode"] == "none"
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
    assert hc["Tmpfs"] == {"/scratch": "size=1m"}
    assert hc["Binds"] == [f"{tmp_path}:/host:ro"]
    c.start()
    assert c.wait()["StatusCode"] == 0, c.logs()
    assert c.logs().decode().splitlines() == [
        "1 65534:65534 /tmp box from the host", "10.1.2.3\tdb", "512", "50", "read-only",
        "tmpfs-ok"]
    a = client.api.inspect_container(c.id)
    mounts = {m["Destination"]: m for m in a["Mounts"]}
    assert mounts["/host"]["Type"] == "bind"
    assert mounts["/host"]["Source"] == str(tmp_path)
    assert mounts["/host"]["RW"] is False


def test_list_filters(client, janitor, name):
    run = janitor.container(client.containers.run(
        "busybox", "sleep 60", name=name + "-run", detach=True, labels={"py-list": name,
                                                                        "role": "run"}))
    bad = janitor.container(client.containers.run(
        "busybox", "sh -c 'exit 3'", name=name + "-bad", detach=True,
        labels={"py-list": name}))
    bad.wait()
    new = janitor.container(client.containers.create(
        "busybox", "true", name=name + "-new", labels={"py-list": name}))
    mine = {"label": f"py-list={name}"}

    def names(**kw):
        filters = dict(mine, **kw.pop("filters", {}))
        return sorted(c.name for c in client.containers.list(filters=filters, **kw))

    assert names() == [name + "-run"]
    assert names(all=True) == sorted([name + "-run", name + "-bad", name + "-new"])
    assert names(all=True, filters={"status": "exited"}) == [name + "-bad"]
    assert names(all=True, filters={"status": "created"}) == [name + "-new"]
    assert names(all=True, filters={"exited": "3"}) == [name + "-bad"]
    assert names(all=True, filters={"label": "role=run"}) == [name + "-run"]
    assert names(all=True, filters={"label": "role"}) == [name + "-run"]
    assert names(all=True, filters={"id": run.id[:12]}) == [name + "-run"]
    assert names(all=True, filters={"name": name + "-ba"}) == [name + "-bad"]
    assert names(all=True, filters={"ancestor": "busybox"}) == sorted(
        [name + "-run", name + "-bad", name + "-new"])
    assert names(all=True, filters={"since": name + "-run"}) == sorted(
        [name + "-bad", name + "-new"])
    assert names(all=True, filters={"before": name + "-new"}) == sorted(
        [name + "-run", name + "-bad"])
    newest = client.containers.list(all=True, limit=1)
    assert [c.id for c in newest] == [new.id]
    # The list's own shape, as the docker CLI and compose read it.
    row = client.api.containers(filters={"id": run.id})[0]
    assert row["Names"] == ["/" + name + "-run"]
    assert row["Image"] == "busybox"
    assert row["ImageID"] == client.images.get("busybox").id
    assert row["Command"] == "sleep 60"
    assert row["State"] == "running" and row["Status"].startswith("Up")
    assert row["Labels"]["role"] == "run"
    assert isinstance(row["Created"], int) and isinstance(row["Mounts"], list)
    assert "NetworkSettings" in row and "HostConfig" in row
    quiet = client.api.containers(all=True, quiet=True, filters=mine)
    assert sorted(x["Id"] for x in quiet) == sorted([run.id, bad.id, new.id])


def test_stop_restart_kill_and_state(client, janitor, name):
    c = janitor.container(client.containers.run(
        "busybox", ["sh", "-c", "trap 'echo got-term; exit 0' TERM; "
                                "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done"],
        name=name, detach=True))
    # (a signal before the traps are set would be ignored: the shell is PID 1)
    wait_until("the traps", lambda: b"ready" in c.logs())
    c.reload()
    started = c.attrs["State"]["StartedAt"]
    pid = c.attrs["State"]["Pid"]
    assert c.status == "running" and pid > 0
    c.kill(signal="SIGUSR1")
    wait_until("USR1 trapped", lambda: b"got-usr1" in c.logs())
    c.kill(signal=10)  # SIGUSR1 by number
    wait_until("second USR1", lambda: c.logs().count(b"got-usr1") == 2)
    c.restart(timeout=5)
    wait_until("the traps again", lambda: c.logs().count(b"ready") == 2)
    c.reload()
    assert c.status == "running"
    assert c.attrs["State"]["StartedAt"] > started
    assert c.attrs["State"]["Pid"] != pid
    assert c.attrs["RestartCount"] == 0  # a restart asked by the user is not counted
    assert b"got-term" in c.logs()
    c.stop(timeout=5)
    c.reload()
    assert (c.status, c.attrs["State"]["ExitCode"]) == ("exited", 0)
    assert c.attrs["State"]["FinishedAt"] > c.attrs["State"]["StartedAt"]
    assert c.attrs["State"]["Pid"] == 0
    # A process that ignores SIGTERM is killed after the timeout.
    d = janitor.container(client.containers.run("busybox", "sleep 60", name=name + "-d",
                                                detach=True))
    t = time.time()
    d.stop(timeout=1)
    assert time.time() - t < 10
    assert d.wait()["StatusCode"] == 137
    d.start()
    d.kill()
    assert d.wait()["StatusCode"] == 137
    d.reload()
    assert d.attrs["State"]["ExitCode"] == 137


def test_wait_conditions(client, janitor, name):
    c = janitor.container(client.containers.create("busybox", ["sh", "-c", "exit 5"],
                                                   name=name))
    # not-running on a container that never ran answers at once
    assert c.wait(condition="not-running", timeout=10)["StatusCode"] == 0
    result = {}

    def waiter(cond, key):
        result[key] = client.api.wait(c.id, condition=cond, timeout=20)

    nxt = threading.Thread(target=waiter, args=("next-exit", "next"))
    nxt.start()
    time.sleep(0.3)
    c.start()
    nxt.join(20)
    assert result["next"]["StatusCode"] == 5
    assert c.wait()["StatusCode"] == 5
    gone = threading.Thread(target=waiter, args=("removed", "removed"))
    gone.start()
    time.sleep(0.3)
    assert gone.is_alive(), "a wait for removal answered before the removal"
    c.remove()
    gone.join(20)
    assert result["removed"]["StatusCode"] == 5
    if support.TARGET == "berthd":  # dockerd 20.10 takes an unknown condition as not-running
        with pytest.raises(docker.errors.APIError) as e:
            client.api.wait(janitor.container(client.containers.create(
                "busybox", "true", name=name + "-x")).id, condition="sometimes")
        assert e.value.status_code == 400

def test_rename_top_pause(client, janitor, name):
    c = janitor.container(client.containers.run("busybox", "sleep 60", name=name, detach=True))
    janitor.container(client.containers.create("busybox", "true", name=name + "-other"))
    c.rename(name + "-b")
    c.reload()
    assert c.name == name + "-b"
    assert client.containers.get(name + "-b").id == c.id
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)
    with pytest.raises(docker.errors.APIError) as e:
        c.rename(name + "-other")
    assert e.value.status_code == 409
    top = c.top()
    assert "PID" in top["Titles"] and "CMD" in top["Titles"]
    assert any("sleep 60" in " ".join(p) for p in top["Processes"]), top
    top = c.top(ps_args="-o pid,comm")
    assert top["Titles"] == ["PID", "COMMAND"]
    assert [p[1] for p in top["Processes"]] == ["sleep"]
    c.pause()
    c.reload()
    assert c.status == "paused" and c.attrs["State"]["Paused"] is True
    with pytest.raises(docker.errors.APIError) as e:
        c.exec_run("true")
    assert e.value.status_code == 409
    assert "paused" in str(e.value)
    with pytest.raises(docker.errors.APIError) as e:
        c.pause()
    assert e.value.status_code == 409
    c.unpause()
    c.reload()
    assert c.status == "running"
    assert c.exec_run("true").exit_code == 0
    # A paused container can still be stopped.
    c.pause()
    c.stop(timeout=1)
    c.reload()
    assert c.status == "exited"


def test_prune_and_remove(client, janitor, name):
    keep = janitor.container(client.containers.run("busybox", "sleep 60", name=name + "-up",
                                                   detach=True, labels={"py-prune": name}))
    gone = [janitor.container(client.containers.create("busybox", "true", name=f"{name}-{i}",
                                                       labels={"py-prune": name}))
            for i in range(2)]
    other = janitor.container(client.containers.create("busybox", "true", name=name + "-o"))
    res = client.containers.prune(filters={"label": f"py-prune={name}"})
    assert sorted(res["ContainersDeleted"]) == sorted(c.id for c in gone)
    assert isinstance(res["SpaceReclaimed"], int)
    for c in gone:
        with pytest.raises(docker.errors.NotFound):
            c.reload()
    other.reload()
    keep.reload()
    with pytest.raises(docker.errors.APIError) as e:
        keep.remove()
    assert e.value.status_code == 409
    # (dockerd 20.10: "You cannot remove a running container"; Docker 25 as berthd)
    assert "running container" in str(e.value) or "container is running" in str(e.value)
    keep.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        keep.reload()
    with pytest.raises(docker.errors.NotFound):
        client.api.remove_container(name + "-up")


def test_healthcheck_fields_run_the_check(client, janitor, name):
    ms = 1_000_000
    hc = {"test": ["CMD-SHELL", "test -f /tmp/ok || { echo missing; exit 1; }"],
          "interval": 200 * ms, "timeout": 2000 * ms, "retries": 2, "start_period": 100 * ms}
    c = janitor.container(client.containers.run("busybox", "sleep 60", name=name, detach=True,
                                                healthcheck=hc))
    c.reload()
    assert c.attrs["Config"]["Healthcheck"] == {
        "Test": hc["test"], "Interval": 200 * ms, "Timeout": 2000 * ms, "Retries": 2,
        "StartPeriod": 100 * ms}
    assert c.attrs["State"]["Health"]["Status"] == "starting"

    def health():
        c.reload()
        return c.attrs["State"]["Health"]
    wait_until("unhealthy", lambda: health()["Status"] == "unhealthy")
    h = health()
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 1 and h["Log"][-1]["Output"] == "missing\n"
    assert [x.name for x in client.containers.list(filters={"health": "unhealthy"})] == [name]
    assert c.exec_run(["sh", "-c", "echo > /tmp/ok"]).exit_code == 0
    wait_until("healthy", lambda: health()["Status"] == "healthy")
    assert [x.name for x in client.containers.list(filters={"health": "healthy"})] == [name]
    # Test ["NONE"] turns the image's or any check off: no Health at all.
    off = janitor.container(client.containers.run("busybox", "sleep 60", name=name + "-off",
                                                  detach=True, healthcheck={"test": ["NONE"]}))
    off.reload()
    assert "Health" not in off.attrs["State"]
