"""The `cluster` config: nodes by name, 1 or 3 managers, placements that name existing nodes; errors name the key."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config import ConfigError
from components.config_loading import validate
from tests.unit.harness import config_entries
from tests.unit.test_config import VALID_HOST_KEY

STACK = "swarm"


def cluster_config(private_key: str, **cluster: Any) -> dict[str, Any]:
    """A valid cluster stack: node1 manager, node2 and node3 workers; `cluster` replaces keys of the section."""
    nodes = {
        "node1": {"host": "203.0.113.11", "hostKey": VALID_HOST_KEY, "role": "manager"},
        "node2": {"host": "203.0.113.12", "hostKey": VALID_HOST_KEY},
        "node3": {"host": "node3.example.com", "swarmAddress": "10.0.0.13", "hostKey": VALID_HOST_KEY},
    }
    section = {"nodes": nodes, "databaseNode": "node1", "publishOn": ["node1"], **cluster}
    return {"cluster": section, "sshPrivateKey": private_key}


def error_of(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        validate(STACK, config_entries(config))
    return str(error.value)


def test_a_valid_cluster(private_key):
    config = validate(STACK, config_entries(cluster_config(private_key)))
    cluster = config.cluster
    assert cluster is not None and not config.on_vds
    assert cluster.managers == ["node1"] and cluster.first_manager == "node1"
    assert [node.address for node in cluster.nodes.values()] == ["203.0.113.11", "203.0.113.12", "10.0.0.13"]
    assert (cluster.api_replicas, cluster.worker_replicas, cluster.heartbeat_seconds) == (2, 1, 5)
    assert cluster.cache_home == "node1"
    assert cluster.nodes["node2"].user == "deploy" and cluster.nodes["node2"].port == 22


def test_the_dev_and_prod_configs_have_no_cluster(private_key):
    assert validate("dev", {}).cluster is None


@pytest.mark.parametrize("managers", [0, 2])
def test_managers_are_1_or_3(private_key, managers):
    config = cluster_config(private_key)
    for index, node in enumerate(config["cluster"]["nodes"].values()):
        node["role"] = "manager" if index < managers else "worker"
    message = error_of(config)
    assert f"botstack:cluster.nodes: has {managers} managers; a swarm here has 1 or 3" in message
    assert "fix: pulumi config set -s swarm --path 'botstack:cluster.nodes.<name>.role' manager" in message


def test_three_managers_are_fine(private_key):
    config = cluster_config(private_key)
    for node in config["cluster"]["nodes"].values():
        node["role"] = "manager"
    assert validate(STACK, config_entries(config)).cluster.managers == ["node1", "node2", "node3"]


def test_placements_must_name_nodes_of_the_cluster(private_key):
    message = error_of(cluster_config(private_key, databaseNode="db1", publishOn=["node1", "edge", "node1"]))
    assert "botstack:cluster.databaseNode: names node 'db1', which is not in cluster.nodes (node1, node2, node3)" in message
    assert "botstack:cluster.publishOn: names node 'edge', which is not in cluster.nodes" in message
    assert "botstack:cluster.publishOn: names a node twice" in message


def test_a_dns_host_needs_a_swarm_address(private_key):
    config = cluster_config(private_key)
    del config["cluster"]["nodes"]["node3"]["swarmAddress"]
    message = error_of(config)
    assert "botstack:cluster.nodes.node3.swarmAddress: is required when host is a DNS name" in message
    assert "pulumi config set -s swarm --path 'botstack:cluster.nodes.node3.swarmAddress' 10.0.0.2" in message


def test_two_nodes_with_one_address_are_refused(private_key):
    config = cluster_config(private_key)
    config["cluster"]["nodes"]["node2"]["host"] = "203.0.113.11"
    message = error_of(config)
    assert "botstack:cluster.nodes.node2: has the same host and port as node node1" in message
    assert "botstack:cluster.nodes.node2: has the same swarm address as node node1" in message


def test_bad_node_values_name_the_node_and_the_key(private_key):
    config = cluster_config(private_key)
    nodes = config["cluster"]["nodes"]
    nodes["node2"] |= {"role": "leader", "swarmAddress": "10.0.0", "labels": {"botstack.database": "true", "Zone": "x"}}
    message = error_of(config)
    assert "botstack:cluster.nodes.node2.role:" in message
    assert "botstack:cluster.nodes.node2.swarmAddress: is not an IPv4 address" in message
    assert "botstack:cluster.nodes.node2.labels.botstack.database: starts with 'botstack.'" in message
    assert "botstack:cluster.nodes.node2.labels.Zone: is not a label name" in message


def test_a_bad_node_name_is_named_with_the_fix(private_key):
    config = cluster_config(private_key)
    nodes = config["cluster"]["nodes"]
    nodes["Node4"] = copy.deepcopy(nodes["node2"]) | {"host": "203.0.113.14"}
    message = error_of(config)
    assert "botstack:cluster.nodes.Node4: is not a node name" in message
    assert "fix: pulumi config rm -s swarm --path 'botstack:cluster.nodes.Node4', then set the node again" in message


def test_cluster_excludes_vds_and_needs_the_ssh_key(private_key):
    config = cluster_config(private_key)
    config["vds"] = {"host": "203.0.113.10", "hostKey": VALID_HOST_KEY}
    assert "botstack:vds: is set with cluster: a stack runs on one VDS or on a cluster" in error_of(config)
    del config["vds"], config["sshPrivateKey"]
    assert "botstack:sshPrivateKey: is required with cluster: it logs in to the nodes" in error_of(config)


def test_unknown_keys_of_a_node_are_refused(private_key):
    config = cluster_config(private_key)
    config["cluster"]["nodes"]["node1"]["hostkey"] = VALID_HOST_KEY
    message = error_of(config)
    assert "botstack:cluster.nodes.node1.hostkey: unknown key" in message
