"""xdesk: the X (Twitter) service desk inside Slack."""
