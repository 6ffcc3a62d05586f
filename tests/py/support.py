"""Helpers shared by the docker-py tests: waiting, raw API calls, a loopback registry."""

import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

# "berthd", or "dockerd" when run.sh --dockerd runs the suite against Docker's own daemon.
TARGET = os.environ.get("BERTH_PY_TARGET", "berthd")
WORK = os.environ.get("BERTH_WORK", tempfile.gettempdir())


def expected(status, dockerd20=None):
    """The status code a test wants: `status`, or Debian's dockerd 20.10 answer where it
    differs (when the suite runs against it)."""
    return dockerd20 if TARGET == "dockerd" and dockerd20 is not None else status


def skip_unless_lenient(why):
    """Skips the test for a missing tool, except in strict mode (BERTH_TEST_STRICT=1, else CI
    set), where it fails: there, scripts/install-deps.sh has installed every tool (see
    tests/README.md, Skips)."""
    import pytest

    def on(v):
        return v.strip() not in ("", "0", "false", "no")

    strict = os.environ.get("BERTH_TEST_STRICT")
    if on(strict) if strict is not None else on(os.environ.get("CI", "")):
        pytest.fail(f"{why}; only host limitations may skip a test in strict mode")
    pytest.skip(why)


def wait_until(what, f, timeout=10.0, step=0.05):
    """Polls `f` until it returns something truthy; fails naming `what` after `timeout`."""
    deadline = time.time() + timeout
    while True:
        v = f()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def raw(api, method, path, body=None, content_type="application/json", params=None):
    """One request through docker-py's HTTP session (unversioned path): the response, for
    checking status codes and error bodies of requests docker-py itself would not send."""
    headers = {}
    if body is not None:
        headers["Content-Type"] = content_type
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
    url = api.base_url + path
    return api.request(method, url, data=body, headers=headers, params=params, timeout=60)


def message(resp):
    """The `message` of an error body (dockerd's {"message": ...})."""
    return resp.json().get("message", "")


_next_port = itertools.count()


def free_port():
    """A loopback port for a server started later. Not port 0's answer: that comes from the
    ephemeral range, which the kernel hands to every connect on the host, so it may be gone
    before the server binds it. These come from just below that range, which the kernel
    never hands out on its own; a counter keeps tests of this process apart."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        start = int(f.read().split()[0])
    span = 2000
    base = max(1024, start - span)
    offset = os.getpid() % span
    for _ in range(span):
        port = base + (offset + next(_next_port)) % span
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free loopback port in {base}..{base + span}")


class Registry:
    """Debian's docker-registry on a free loopback port with its own storage; basic auth
    from an htpasswd file when `user` is given. Stopped by `stop()`."""

    def __init__(self, user=None, password=None):
        self.dir = tempfile.mkdtemp(prefix="reg-", dir=WORK)
        self.port = free_port()
        self.user, self.password = user, password
        auth = ""
        if user:
            hashed = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                                    capture_output=True).stdout
            with open(os.path.join(self.dir, "htpasswd"), "wb") as f:
                f.write(hashed)
            auth = f"auth: {{ htpasswd: {{ realm: py, path: {self.dir}/htpasswd }} }}\n"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(
                "version: 0.1\nlog: { level: warn }\n"
                f"storage: {{ filesystem: {{ rootdirectory: {self.dir}/data }}, delete: {{ enabled: true }} }}\n"
                f"http: {{ addr: 127.0.0.1:{self.port} }}\n{auth}")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_until("the registry to listen", self._listening, timeout=15)

    def _listening(self):
        assert self.proc.poll() is None, "docker-registry exited: " + open(self.log.name).read()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def tags(self, repo):
        """The tags the registry holds for `repo` (no auth)."""
        with urllib.request.urlopen(f"http://{self.host}/v2/{repo}/tags/list", timeout=10) as r:
            return json.load(r).get("tags") or []

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def derived_archive(base_archive, tag, labels):
    """A docker-archive (what `docker save` writes) of a new image named `tag`: the base
    archive's layers with `labels` added to its config, so it has an ID of its own."""
    import hashlib
    import io
    import tarfile

    with tarfile.open(base_archive) as t:
        manifest = json.load(t.extractfile("manifest.json"))[0]
        config = json.load(t.extractfile(manifest["Config"]))
        layers = {p: t.extractfile(t.getmember(p)).read() for p in manifest["Layers"]}
    config.setdefault("config", {})["Labels"] = dict(labels)
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    files = {config_name: config_bytes, **layers,
             "manifest.json": json.dumps([{"Config": config_name, "RepoTags": [tag],
                                           "Layers": manifest["Layers"]}]).encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
