"""The Slack emulator: the Web API, signed Events API deliveries, Socket Mode and interactivity."""
