"""Redis, the one store: the connection, every key family, the Lua scripts, cases, the outbox and its lanes.

May import: ``bridge.core`` and ``redis``. Never an adapter (``bridge.x``, ``bridge.slack``) nor a feature.
"""
