"""The desk's rules and models, as plain code: routing, hours, the personal-data guard, counting and
splitting a reply, media rules, mrkdwn escaping, settings.

May import: the standard library and pure libraries (pydantic, phonenumbers, twitter-text-parser). Never
Redis, tweepy, slack_sdk, nor any other room of ``bridge``.
"""
