"""Run a Ray cluster of several nodes on this machine until told to stop (SIGTERM).

``python cluster_daemon.py CONFIG_JSON``: CONFIG is ``{"head": {...}, "workers": {role: {...}}}``,
each ``{...}`` the keyword arguments of ``ray.cluster_utils.Cluster.add_node`` (``num_cpus``,
``num_gpus``, ``labels``, ``include_dashboard``, ...). Prints one JSON line once every node
is up: the GCS address, the dashboard URL and each role's node id. The environment decides
loopback and token auth (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, ``RAY_AUTH_MODE``).
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from ray.cluster_utils import Cluster


def main() -> None:
    config = json.loads(sys.argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster = Cluster(initialize_head=True, head_node_args=config["head"])
    try:
        nodes = {"head": cluster.head_node.node_id}
        for role, args in config.get("workers", {}).items():
            nodes[role] = cluster.add_node(**args).node_id
        print(json.dumps({"address": cluster.address, "nodes": nodes,
                          "dashboard": cluster.head_node.address_info.get("webui_url")}), flush=True)
        stop.wait()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
