"""The parts of a desk, put together the same way for every process and for the tests' in-memory X and Slack.

:func:`desk_for` builds what Slack's listeners call; :func:`job_handlers` maps every outbox job kind to
the effect that does it. Both take the ports, so what a test runs against fakes is what production runs.
"""

from __future__ import annotations

from bridge.core.models import Author
from bridge.core.settings import Settings
from bridge.desk.admin import DeskAdmin
from bridge.desk.admin_home import AdminHome
from bridge.desk.desk import Desk
from bridge.desk.glance import Glance
from bridge.desk.roles import Roles
from bridge.desk.saved_reply_modal import SavedReplySending
from bridge.effects.clock_jobs import ClockJobs
from bridge.effects.digest import DigestJobs
from bridge.effects.dms import DmJobs
from bridge.effects.edits import EditJobs
from bridge.effects.erase import PrivacyJobs
from bridge.effects.media_upload import ReplyMedia
from bridge.effects.moves import CaseMoves
from bridge.effects.replies import XReplies
from bridge.effects.slack_posts import SlackPosting
from bridge.slack.port import SlackPort
from bridge.storage.desk_config import DeskConfig, LiveSettings
from bridge.storage.lanes import Handler
from bridge.storage.store import Store
from bridge.x.port import DirectPort, XPort


def desk_for(store: Store, live: LiveSettings, slack: SlackPort) -> Desk:
    """The desk Slack's listeners call: claims, thread messages, edits, hand-over, moves, admins' changes."""
    settings = live.view()
    roles = Roles(settings, slack, store.r, store.p)
    return Desk(store, settings, roles, slack, DeskAdmin(live, DeskConfig(store), roles, slack, store.clock),
                Glance(store, settings, roles, slack, store.clock))


def job_handlers(store: Store, settings: Settings, brand: Author, slack: SlackPort, x: XPort,
                 direct: DirectPort, media: ReplyMedia | None = None) -> dict[str, Handler]:
    """Every outbox job kind and the effect that does it."""
    posting = SlackPosting(store, slack, settings, brand)
    replies = XReplies(store, x, slack, settings, brand.username, media)
    clock = ClockJobs(store, slack, settings, brand, posting, replies)
    desk = desk_for(store, _live(store, settings), slack)
    return {**posting.handlers(), **replies.handlers(),
            **SavedReplySending(posting, desk).handlers(), **home_of(desk).handlers(),
            **clock.handlers(), **CaseMoves(posting).handlers(),
            **DigestJobs(posting, x, settings, store.clock).handlers(),
            **PrivacyJobs(store, slack, settings, store.clock).handlers(),
            **EditJobs(store, x, settings, brand.username).handlers(),
            **DmJobs(store, direct, settings, brand, replies).handlers()}


def home_of(desk: Desk) -> AdminHome:
    """Each user's App Home, as Slack's listeners and the ``home`` jobs publish it."""
    return AdminHome(desk.admin, desk.glance, desk.roles, desk.slack)


def _live(store: Store, settings: Settings) -> LiveSettings:
    """The live view ``settings`` is (production's), or a view over plain settings (some tests')."""
    return settings if isinstance(settings, LiveSettings) else LiveSettings(settings, DeskConfig(store))
