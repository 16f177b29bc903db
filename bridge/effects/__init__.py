"""The outbox's job handlers: the only code that writes to X or Slack.

May import: ``bridge.core``, ``bridge.storage`` and the adapters. Never ``bridge.intake`` nor ``bridge.desk``.
"""
