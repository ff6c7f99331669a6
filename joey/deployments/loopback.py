"""Keep a loopback Ray's Serve replicas on loopback.

Serve 2.60 binds every replica's inter-deployment gRPC server to ``[::]:0`` whatever the
node address (``ray/serve/_private/replica.py``, ``_on_initialized``), and offers no
setting to change it. On joey's embedded Ray (node address 127.0.0.1) that server would
be the one socket reachable from the network, and it runs model requests. So, in a
replica whose node is on loopback only, the bind address is rewritten to the node's.
This touches one private Serve name; if Serve drops it, the replica still starts
(with a warning) and ``tests/cluster/test_loopback.py`` reports the open socket.
On a real cluster (any other node address) nothing changes: other nodes must reach it.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1")
_ANY_INTERFACE = "[::]:"


def keep_replica_grpc_on_loopback() -> None:
    """Call in a deployment's ``__init__`` (it runs before Serve starts the replica's server)."""
    import ray

    node_ip = ray.util.get_node_ip_address()
    if node_ip not in LOOPBACK:
        return
    try:
        from ray.serve._private import replica
    except ImportError:  # pragma: no cover - Serve moved it
        logger.warning("cannot keep the replica's gRPC server on loopback: Serve changed")
        return
    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "_joey_loopback", False):
        return

    def bind_on_node(server: Any, address: str) -> int:
        if address.startswith(_ANY_INTERFACE):
            host = f"[{node_ip}]" if ":" in node_ip else node_ip
            address = f"{host}:{address[len(_ANY_INTERFACE):]}"
        result: int = original(server, address)
        return result

    bind_on_node._joey_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = bind_on_node
