"""Wiring: the runtime that builds each process's parts, the web server, the Bolt app and the CLI.

May import every room. Only the CLI imports ``bridge.sandbox``.
"""
