"""Fixtures: a docker-py client on the daemon run.sh started (busybox loaded), unique names,
a janitor that removes what a test made even when it fails, loopback registries."""

import os
import uuid

import docker
import pytest

import support


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "berthd_only: checks berthd's own choices (skipped against dockerd)")


def pytest_collection_modifyitems(config, items):
    if support.TARGET == "berthd":
        return
    skip = pytest.mark.skip(reason="checks berthd's own behaviour")
    for item in items:
        if "berthd_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def client():
    c = docker.DockerClient(base_url=os.environ["BERTH_HOST"], version="auto", timeout=60)
    with open(os.environ["BERTH_BUSYBOX_ARCHIVE"], "rb") as f:
        c.images.load(f.read())
    yield c
    c.close()


@pytest.fixture(scope="session")
def api(client):
    """The low-level APIClient of the session's client."""
    return client.api


@pytest.fixture
def name():
    """A name of its own for each test (containers, networks, images, volumes)."""
    return "py-" + uuid.uuid4().hex[:10]


class Janitor:
    """Removes what a test registered, in reverse order, ignoring what is already gone."""

    def __init__(self, client):
        self.client = client
        self.items = []

    def container(self, c):
        self.items.append(("container", c if isinstance(c, str) else c.id))
        return c

    def network(self, n):
        self.items.append(("network", n if isinstance(n, str) else n.id))
        return n

    def image(self, ref):
        self.items.append(("image", ref))
        return ref

    def volume(self, v):
        self.items.append(("volume", v if isinstance(v, str) else v.name))
        return v

    def clean(self):
        api = self.client.api
        for kind, ref in reversed(self.items):
            try:
                if kind == "container":
                    api.remove_container(ref, force=True, v=True)
                elif kind == "network":
                    api.remove_network(ref)
                elif kind == "image":
                    api.remove_image(ref, force=True)
                elif kind == "volume":
                    api.remove_volume(ref, force=True)
            except docker.errors.NotFound:
                pass


@pytest.fixture
def janitor(client):
    j = Janitor(client)
    yield j
    j.clean()


@pytest.fixture(scope="session")
def registry():
    """A registry on a loopback port without authentication."""
    r = support.Registry()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def auth_registry():
    """A registry on a loopback port that wants user `py` with password `secret-pw`."""
    r = support.Registry("py", "secret-pw")
    yield r
    r.stop()
