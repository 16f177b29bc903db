"""The Slack adapter: the Web API client and the Block Kit messages the bridge posts.

May import: ``bridge.core`` and slack_sdk. Never ``bridge.x`` nor ``bridge.storage``.
"""
