"""The desk's rules against in-memory X and Slack (``tests/fakes.py``): each test runs in milliseconds."""
