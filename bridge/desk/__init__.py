"""What comes in from Slack: claims, thread replies and notes, edits, DMs, hand-over, moves, saved replies,
and admins' changes to the desk (``/xdesk topics``, ``agents``, ``hours``; the App Home).

Decides and queues; the effects on X and Slack are done by ``bridge.effects``. May import ``bridge.core``,
``bridge.storage``, the adapters and ``bridge.effects``. Never ``bridge.intake``.
"""
