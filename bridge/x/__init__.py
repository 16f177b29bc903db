"""The X adapter: the only code that knows X's endpoints, field names and errors (through tweepy).

May import: ``bridge.core``, tweepy and requests. Never ``bridge.slack`` nor ``bridge.storage``.
"""
