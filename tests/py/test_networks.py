"""Networks through docker-py: create (IPAM, labels, internal, options), list with filters,
inspect, connect (aliases, fixed address) and disconnect of running containers, remove,
prune, and the errors dockerd gives. Traffic stays between the test's own containers."""

import random

import docker
import pytest

import support


def subnet():
    """A /24 unlikely to be used by the host or other tests."""
    return f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"


def addresses(container):
    """The IPv4 addresses inside the container, by interface."""
    out = container.exec_run(["ip", "-o", "-4", "addr", "show"]).output.decode()
    return {line.split()[1]: line.split()[3].split("/")[0] for line in out.splitlines()}


def test_create_inspect_list_remove(client, janitor, name):
    net = subnet()
    gw = net.replace(".0/24", ".1")
    n = janitor.network(client.networks.create(
        name, driver="bridge", labels={"py-net": name}, internal=True, attachable=True,
        options={"com.docker.network.driver.mtu": "1400"},
        ipam=docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet=net, gateway=gw,
                                  iprange=net.replace(".0/24", ".128/25"))])))
    a = n.attrs
    assert a["Name"] == name and a["Id"] == n.id and len(n.id) == 64
    assert a["Driver"] == "bridge" and a["Scope"] == "local"
    assert a["Internal"] is True and a["Attachable"] is True and a["EnableIPv6"] is False
    assert a["Labels"] == {"py-net": name}
    assert a["Options"]["com.docker.network.driver.mtu"] == "1400"
    assert a["IPAM"]["Driver"] == "default"
    assert a["IPAM"]["Config"] == [{"Subnet": net, "Gateway": gw,
                                    "IPRange": net.replace(".0/24", ".128/25")}]
    assert a["Containers"] == {}
    assert "Created" in a
    assert client.networks.get(n.id[:12]).name == name
    assert [x.id for x in client.networks.list(names=[name])] == [n.id]
    assert [x.id for x in client.networks.list(filters={"label": f"py-net={name}"})] == [n.id]
    assert n.id in [x.id for x in client.networks.list(filters={"type": "custom"})]
    assert n.id not in [x.id for x in client.networks.list(filters={"type": "builtin"})]
    assert n.id in [x.id for x in client.networks.list(filters={"driver": "bridge"})]
    builtin = {x.name for x in client.networks.list(filters={"type": "builtin"})}
    assert {"host", "none"} <= builtin
    n.remove()
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(name)


def test_connect_and_disconnect_running_containers(client, janitor, name):
    net = subnet()
    n = janitor.network(client.networks.create(
        name, ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=net)])))
    fixed = net.replace(".0/24", ".77")
    a = janitor.container(client.containers.run("busybox", "sleep 120", name=name + "-a",
                                                detach=True, network=name))
    other = janitor.network(client.networks.create(name + "-2", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=subnet())])))
    b = janitor.container(client.containers.run("busybox", "sleep 120", name=name + "-b",
                                                detach=True, network=other.name))
    n.connect(b, aliases=["bee"], ipv4_address=fixed)
    b.reload()
    ep = b.attrs["NetworkSettings"]["Networks"][name]
    assert ep["IPAddress"] == fixed
    assert ep["NetworkID"] == n.id
    assert "bee" in ep["Aliases"]
    assert ep["IPPrefixLen"] == 24
    assert ep["MacAddress"]
    assert fixed in addresses(b).values()
    a.reload()
    a_ip = a.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
    assert a_ip.startswith(net.rsplit(".", 1)[0] + ".")
    # The two reach each other (by address; by name where the daemon's DNS serves).
    assert b.exec_run(["ping", "-c", "1", "-W", "3", a_ip]).exit_code == 0
    if support.TARGET == "berthd":
        out = a.exec_run(["ping", "-c", "1", "-W", "3", "bee"])
        assert out.exit_code == 0, out.output
        assert fixed.encode() in out.output
    n.reload()
    assert set(n.attrs["Containers"]) == {a.id, b.id}
    assert n.attrs["Containers"][b.id]["Name"] == name + "-b"
    assert n.attrs["Containers"][b.id]["IPv4Address"] == fixed + "/24"
    assert sorted(c.id for c in n.containers) == sorted([a.id, b.id])
    # Connecting twice conflicts; removing a network in use is refused.
    with pytest.raises(docker.errors.APIError) as e:
        n.connect(b)
    assert e.value.status_code in (403, 409), e.value
    with pytest.raises(docker.errors.APIError) as e:
        n.remove()
    assert e.value.status_code == 403, e.value
    assert "active endpoints" in str(e.value)
    n.disconnect(b)
    b.reload()
    assert name not in b.attrs["NetworkSettings"]["Networks"]
    assert fixed not in addresses(b).values()
    with pytest.raises(docker.errors.APIError):
        n.disconnect(b)
    n.disconnect(a, force=True)
    n.reload()
    assert n.attrs["Containers"] == {}
    n.remove()


def test_errors_and_prune(client, api, janitor, name):
    net = subnet()
    janitor.network(client.networks.create(
        name, labels={"py-prune": name},
        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=net)])))
    with pytest.raises(docker.errors.APIError) as e:
        client.networks.create(name, check_duplicate=True)
    assert e.value.status_code == 409, e.value
    with pytest.raises(docker.errors.APIError) as e:
        janitor.network(name + "-overlap")
        client.networks.create(name + "-overlap", ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=net)]))
    assert e.value.status_code == 403, e.value
    with pytest.raises(docker.errors.APIError) as e:
        janitor.network(name + "-gw")
        client.networks.create(name + "-gw", ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=subnet(), gateway="192.0.2.1")]))
    assert e.value.status_code in (400, 403), e.value
    with pytest.raises(docker.errors.NotFound):
        api.connect_container_to_network("no-such-container", name)
    with pytest.raises(docker.errors.NotFound):
        api.connect_container_to_network(
            janitor.container(client.containers.create("busybox", "true", name=name)).id,
            "no-such-network")
    with pytest.raises(docker.errors.NotFound):
        api.inspect_network("no-such-network")
    with pytest.raises(docker.errors.NotFound):
        api.remove_network("no-such-network")
    with pytest.raises(docker.errors.APIError) as e:
        api.remove_network("none")
    assert e.value.status_code == 403, e.value
    res = client.networks.prune(filters={"label": f"py-prune={name}"})
    assert res["NetworksDeleted"] == [name]
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(name)
