"""Debian's docker-compose 1.29 (a docker-py 5 client of its own) drives a two-service app:
up -d, ps, logs, exec, restart, stop, start, down. The services talk over the project's
network; the db's named volume outlives `down` and goes with `down -v`."""

import os
import shutil
import subprocess

import docker
import pytest

from support import skip_unless_lenient, wait_until

COMPOSE = shutil.which("docker-compose")

APP = """\
version: "3.8"
services:
  db:
    image: busybox:latest
    command: sh -c 'echo db-up >> /data/runs; echo db-up; while true; do echo db-ok | nc -l -p 6000; done'
    labels: { py.role: db }
    volumes: [ "dbdata:/data" ]
  app:
    image: busybox:latest
    command: sh -c 'echo app-up; while true; do nc db 6000 > /tmp/got; sleep 0.3; done'
    environment: [ GREETING=hello ]
    depends_on: [ db ]
volumes:
  dbdata: {}
"""


@pytest.fixture
def project(tmp_path, name):
    if COMPOSE is None:
        skip_unless_lenient("docker-compose is not installed (scripts/install-deps.sh installs it)")
    (tmp_path / "docker-compose.yml").write_text(APP)
    proj = name.replace("-", "")
    yield tmp_path, proj
    compose(tmp_path, proj, "down", "-t", "1", check=False)


def compose(d, proj, *args, check=True):
    env = dict(os.environ, DOCKER_HOST=os.environ["BERTH_HOST"])
    env.pop("DOCKER_API_VERSION", None)
    r = subprocess.run([COMPOSE, "-p", proj, *args], cwd=d, env=env, capture_output=True,
                       text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"docker-compose {' '.join(args)}: {r.stdout}{r.stderr}"
    return r


def test_two_service_app_lifecycle(client, project):
    d, proj = project
    up = compose(d, proj, "up", "-d")
    assert f"Creating network \"{proj}_default\"" in up.stderr, up.stderr
    db = client.containers.get(f"{proj}_db_1")
    app = client.containers.get(f"{proj}_app_1")
    assert db.labels["com.docker.compose.project"] == proj
    assert db.labels["com.docker.compose.service"] == "db"
    assert db.labels["py.role"] == "db"
    assert f"{proj}_default" in app.attrs["NetworkSettings"]["Networks"]

    ps = compose(d, proj, "ps").stdout
    for svc in ("db", "app"):
        line = next(x for x in ps.splitlines() if x.startswith(f"{proj}_{svc}_1"))
        assert " Up " in f" {line} ", ps
    assert sorted(compose(d, proj, "ps", "-q").stdout.split()) == sorted([db.id, app.id])

    # The app reaches the db by its service name on the project network.
    wait_until("the app to hear from the db", lambda: compose(
        d, proj, "exec", "-T", "app", "cat", "/tmp/got", check=False).stdout == "db-ok\n",
        timeout=20, step=0.3)
    out = compose(d, proj, "exec", "-T", "app", "sh", "-c", "echo $GREETING; exit 3",
                  check=False)
    assert (out.returncode, out.stdout) == (3, "hello\n")

    logs = compose(d, proj, "logs", "--no-color").stdout
    assert "db-up" in logs and "app-up" in logs, logs
    assert any(x.startswith("db_1") and "db-up" in x for x in logs.splitlines()), logs

    started = client.api.inspect_container(db.id)["State"]["StartedAt"]
    compose(d, proj, "restart", "-t", "1", "db")
    db.reload()
    assert db.status == "running" and db.attrs["State"]["StartedAt"] > started

    compose(d, proj, "stop", "-t", "1")
    for c in (db, app):
        c.reload()
        assert c.status == "exited"
    ps = compose(d, proj, "ps").stdout
    assert "Exit" in ps, ps
    compose(d, proj, "start")
    app.reload()
    assert app.status == "running"

    down = compose(d, proj, "down", "-t", "1")
    assert "Removing network" in down.stderr, down.stderr
    assert client.containers.list(all=True, filters={
        "label": f"com.docker.compose.project={proj}"}) == []
    assert client.networks.list(names=[f"{proj}_default"]) == []
    # The named volume stays, with what the db wrote (twice: up, then restart/start).
    vol = client.volumes.get(f"{proj}_dbdata")
    assert vol.attrs["Labels"]["com.docker.compose.project"] == proj
    compose(d, proj, "up", "-d", "db")
    db = client.containers.get(f"{proj}_db_1")
    wait_until("the db's fourth run", lambda: db.exec_run("cat /data/runs").output.count(
        b"db-up") >= 4)
    compose(d, proj, "down", "-v", "-t", "1")
    assert client.volumes.list(filters={"name": f"{proj}_dbdata"}) == []


def test_scale_and_run_one_off(client, project):
    d, proj = project
    compose(d, proj, "up", "-d", "--scale", "db=2", "db")
    dbs = client.containers.list(filters={"label": [f"com.docker.compose.project={proj}",
                                                    "com.docker.compose.service=db"]})
    assert sorted(c.name for c in dbs) == [f"{proj}_db_1", f"{proj}_db_2"]
    out = compose(d, proj, "run", "--rm", "-T", "app", "sh", "-c", "echo one-off $GREETING")
    assert out.stdout == "one-off hello\n"


HEALTH_APP = """\
version: "2.4"
services:
  db:
    image: busybox:latest
    command: sh -c 'sleep 1; echo > /tmp/ready; exec sleep 300'
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/{ready}"]
      interval: 200ms
      retries: {retries}
  app:
    image: busybox:latest
    command: sleep 300
    depends_on:
      db: {{ condition: service_healthy }}
"""


def rfc3339_seconds(s):
    """Seconds since the epoch of an RFC 3339 time with up to nine fraction digits."""
    from datetime import datetime
    base, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(base + "+00:00").timestamp() + float("0." + (frac or "0"))


def test_depends_on_service_healthy_waits_for_the_check(client, tmp_path, name):
    if COMPOSE is None:
        skip_unless_lenient("docker-compose is not installed (scripts/install-deps.sh installs it)")
    proj = name.replace("-", "")
    (tmp_path / "docker-compose.yml").write_text(HEALTH_APP.format(ready="ready", retries=20))
    try:
        compose(tmp_path, proj, "up", "-d")
        db = client.api.inspect_container(f"{proj}_db_1")
        app = client.api.inspect_container(f"{proj}_app_1")
        health = db["State"]["Health"]
        assert health["Status"] == "healthy", health
        first_ok = next(e for e in health["Log"] if e["ExitCode"] == 0)
        # The app started only once the db's check had passed.
        assert rfc3339_seconds(app["State"]["StartedAt"]) >= rfc3339_seconds(first_ok["End"]), \
            (app["State"]["StartedAt"], health)
    finally:
        compose(tmp_path, proj, "down", "-t", "1", check=False)
    # A db that turns unhealthy: compose refuses to start what depends on it.
    (tmp_path / "docker-compose.yml").write_text(HEALTH_APP.format(ready="never", retries=1))
    try:
        up = compose(tmp_path, proj, "up", "-d", check=False)
        assert up.returncode != 0, up.stdout + up.stderr
        assert "is unhealthy" in up.stderr, up.stderr
        # (not even created)
        with pytest.raises(docker.errors.NotFound):
            client.api.inspect_container(f"{proj}_app_1")
    finally:
        compose(tmp_path, proj, "down", "-t", "1", check=False)
