"""What comes in from X and from the clock: mentions and searches, DMs, deletions, opening hours, reminders.

May import: ``bridge.core``, ``bridge.storage``, the adapters and ``bridge.effects``. Never ``bridge.desk``.
"""
