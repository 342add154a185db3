"""The stack's Redis Cluster: formed once with ``redis-cli --cluster create``, then waited for until every node agrees
that all 16,384 slots are served and every replica is in sync with its primary."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence

import redis

from driftline.errors import StackError
from driftline.redis_clients import cli_args, connection_options
from driftline.settings import RedisSettings
from stack.health import cluster_info
from stack.services import RedisService

SLOTS = 16384


def _client(node: RedisService, settings: RedisSettings) -> redis.Redis:
    login = node.login()
    return redis.Redis(port=node.port, socket_timeout=2, socket_connect_timeout=2, ssl=login.tls,
                       **connection_options(login))  # fmt: skip


def node_problem(node: RedisService, settings: RedisSettings, nodes: int) -> str | None:
    """Why this node does not yet see a whole, healthy cluster of ``nodes`` nodes; None when it does."""
    client = _client(node, settings)
    try:
        info = cluster_info(client)
        if info.get("cluster_state") != "ok" or int(info.get("cluster_slots_ok", 0)) != SLOTS:
            return f"cluster_state {info.get('cluster_state')}, {info.get('cluster_slots_ok')} of {SLOTS} slots ok"
        if int(info.get("cluster_known_nodes", 0)) != nodes:
            return f"knows {info.get('cluster_known_nodes')} of {nodes} nodes"
        replication = client.info("replication")
        if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
            return "replica not in sync with its primary yet"
        return None
    except redis.RedisError as exc:
        return f"{exc.__class__.__name__}: {exc}"
    finally:
        client.close()


def _slots_assigned(node: RedisService, settings: RedisSettings) -> int:
    client = _client(node, settings)
    try:
        return int(cluster_info(client).get("cluster_slots_assigned", 0))
    finally:
        client.close()


def form_redis_cluster(nodes: Sequence[RedisService], settings: RedisSettings, deadline: float,
                       progress: Callable[[str], None]) -> None:  # fmt: skip
    """Make the nodes one cluster (the first half primaries, one replica each) unless they already are one, and wait
    until it serves every slot. A node restarted later rejoins by itself, from its ``nodes.conf``."""
    if _slots_assigned(nodes[0], settings) == 0:
        progress(f"redis cluster: forming {len(nodes) // 2} primaries with a replica each")
        env = dict(os.environ)
        login = nodes[0].login()
        if login.password is not None:  # in the environment, not on a command line every user can read
            env["REDISCLI_AUTH"] = login.password.get_secret_value()
        flags = cli_args(login.model_copy(update={"password": None}))
        command = ["redis-cli", *flags, "--cluster", "create", *[n.address for n in nodes], "--cluster-replicas", "1",
                   "--cluster-yes"]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True,
                                timeout=max(5.0, deadline - time.monotonic()))  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"redis-cli --cluster create failed (exit {result.returncode}):\n"
                             f"{(result.stdout + result.stderr)[-1500:]}")  # fmt: skip
    problems: dict[str, str] = {}
    while time.monotonic() < deadline:
        problems = {n.name: p for n in nodes if (p := node_problem(n, settings, len(nodes))) is not None}
        if not problems:
            progress(f"redis cluster: {len(nodes)} nodes serve all {SLOTS} slots")
            return
        time.sleep(0.25)
    raise StackError(f"the Redis Cluster did not become whole in time: {problems}; if a node's data was removed, "
                     f"`driftline stack down` and delete {nodes[0].dir.parent} to form it anew")  # fmt: skip
