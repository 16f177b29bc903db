"""``python -m bridge``: the entry point, the one place that plugs Slack's doorway (handlers/) into the bridge."""

from bridge.app.cli import main
from handlers import register_all

raise SystemExit(main(listeners=register_all))
