"""The Procfile's processes as real subprocesses, for the fault-injection tests.

They live in ``bridge/sandbox/cluster.py``, where ``bench/`` uses them too.
"""

from bridge.sandbox.cluster import Cluster, Proc, free_port

__all__ = ["Cluster", "Proc", "free_port"]
