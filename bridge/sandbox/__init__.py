"""The emulators of X and Slack, and the sandbox that plays the real bridge between them.

Nothing else in ``bridge`` imports this package but the CLI.
"""
