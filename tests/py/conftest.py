"""Fixtures: a docker-py client on the berthd that run.sh started, with busybox loaded."""

import os
import uuid

import docker
import pytest


@pytest.fixture(scope="session")
def client():
    c = docker.DockerClient(base_url=os.environ["BERTH_HOST"], version="auto", timeout=60)
    with open(os.environ["BERTH_BUSYBOX_ARCHIVE"], "rb") as f:
        c.images.load(f.read())
    yield c
    c.close()


@pytest.fixture
def name():
    """A container name of its own for each test."""
    return "py-" + uuid.uuid4().hex[:10]
