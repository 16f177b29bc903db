"""Settings: ``settings.toml`` (path in ``BRIDGE_SETTINGS``) overlaid by ``BRIDGE_<SECTION>__<KEY>``.

Secrets and endpoints come from the environment only (:class:`Environment`). Both are validated at
start; :func:`load` turns any problem into one :class:`SettingsError` line that names the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import (
    SettingsError as PydanticSettingsError,
)


class SettingsError(Exception):
    """A setting or environment variable is wrong; the message is one line that names it."""


def _slack_id(prefixes: str, what: str):
    pattern = re.compile(rf"^[{prefixes}][A-Z0-9]{{2,}}$")

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"expected a Slack {what} ID like {prefixes[0]}0123ABCD, got {value!r}")
        return value

    return AfterValidator(check)


ChannelIdStr = Annotated[str, _slack_id("CG", "channel")]
UserIdStr = Annotated[str, _slack_id("UW", "user")]
UserOrGroupIdStr = Annotated[str, _slack_id("UWS", "user or user-group")]
EmojiName = Annotated[str, Field(pattern=r"^[a-z0-9_+\-']+$", description="emoji name without colons")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackSection(_Section):
    mode: Literal["http", "socket"] = "http"
    default_channel: ChannelIdStr
    admins: list[UserIdStr] = []
    agents: list[UserOrGroupIdStr] = []
    admin_changes: bool = True  # false: topics, agents and hours change only in settings.toml
    audit_channel: ChannelIdStr | Literal[""] = ""  # every admin change is posted there too


class XPrices(_Section):
    """What X bills per resource read or written, in US dollars (pay-per-use since February 2026).

    Reads as X's pricing page lists them; a resource is billed once per UTC day however often it is
    read. Write prices are shown in X's Developer Console and change: set them from there.
    """

    post_read: float = Field(0.005, ge=0)
    user_read: float = Field(0.010, ge=0)
    owned_read: float = Field(0.001, ge=0)  # the brand's own mentions timeline
    post_write: float = Field(0.0, ge=0)
    dm_write: float = Field(0.0, ge=0)


class XSection(_Section):
    min_poll_interval: float = Field(5, ge=0.1, le=3600)
    search: list[Annotated[str, Field(min_length=1, max_length=512)]] = []
    include_retweets: bool = False
    dry_run: bool = False  # nothing is posted to X; the thread shows what would have been
    prices: XPrices = XPrices()


class DmSection(_Section):
    enabled: bool = False
    # GET /2/dm_events allows 15 requests per 15 minutes per user: one a minute at the most.
    # https://docs.x.com/x-api/fundamentals/rate-limits
    min_poll_interval: float = Field(60, ge=0.1, le=3600)
    ask_template: Annotated[str, Field(max_length=280)] = (
        "@{handle} We'd like to help with this privately: please send us a direct message.")


class EmojiSection(_Section):
    claim: EmojiName = "eyes"
    resolve: EmojiName = "white_check_mark"
    ask_dm: EmojiName = "envelope"  # on a public case's parent: ask the customer to send a DM

    @model_validator(mode="after")
    def _distinct(self) -> EmojiSection:
        # One reaction, one meaning: with ask_dm = claim, a claim would ask for a DM instead.
        names = [self.claim, self.resolve, self.ask_dm]
        if len(set(names)) < len(names):
            raise ValueError(f"claim, resolve and ask_dm must be different emoji, got {names}")
        return self


class RepliesSection(_Section):
    note_prefixes: list[Annotated[str, Field(min_length=1)]] = ["note:", "//"]
    long: Literal["split", "refuse"] = "split"
    sent_emoji: EmojiName = "outbox_tray"
    delete_on_slack_delete: bool = True  # an agent deleting a tweeted reply in Slack deletes the tweet


def _hhmm_range(value: str) -> str:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)", value)
    if not match or (match[3] == "24" and match[4] != "00") or value[:5] >= value[6:]:
        raise ValueError(f"expected opening hours like \"08:00-20:00\", got {value!r}")
    return value


OpeningHours = list[Annotated[str, AfterValidator(_hhmm_range)]]


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone like \"Europe/Berlin\", got {value!r}") from None
    return value


class HoursSection(_Section):
    """Service hours. Without an ``[hours]`` table the desk is always open."""

    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    monday: OpeningHours = ["08:00-20:00"]
    tuesday: OpeningHours = ["08:00-20:00"]
    wednesday: OpeningHours = ["08:00-20:00"]
    thursday: OpeningHours = ["08:00-20:00"]
    friday: OpeningHours = ["08:00-20:00"]
    saturday: OpeningHours = []
    sunday: OpeningHours = []
    holidays: list[date] = []
    # Tweeted once per customer per closed period; "" sends none. {handle}, {name}, {opens}.
    auto_reply: Annotated[str, Field(max_length=280)] = (
        "@{handle} Thanks for your message! Our team is back {opens} and will answer you then.")


class PrivacySection(_Section):
    """The personal-data guard run on every reply before it is tweeted."""

    guard: bool = True
    phone_regions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = ["DE"]
    # Extra patterns, by the name an agent is told, e.g. {"customer number" = "\\b\\d{10}\\b"}.
    patterns: dict[str, Annotated[str, AfterValidator(lambda v: (re.compile(v), v)[1])]] = {}
    force_prefix: str = "!public"  # a reply starting with it is tweeted despite a hit; "" disables
    retention_days: int = Field(0, ge=0, le=3650)  # resolved cases older than this are erased daily; 0: kept
    # Seconds between two looks at X for deleted tweets; X bills a post read once per UTC day.
    deleted_check_interval: float = Field(60, ge=0.1, le=3600)


class RemindersSection(_Section):
    unclaimed_after: float = Field(0, ge=0)  # minutes; 0: no reminder
    waiting_after: float = Field(0, ge=0)  # minutes; 0: no reminder
    ping: Annotated[str, Field(pattern=r"^(|S[A-Z0-9]{2,}|here|channel)$")] = "here"


class SlaSection(_Section):
    first_response: float = Field(30, gt=0, le=7 * 24 * 60)  # minutes; the share answered within it is reported


def _hhmm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"expected a time of day like \"08:00\", got {value!r}")
    return value


class DigestSection(_Section):
    channel: ChannelIdStr | Literal[""] = ""  # one summary with a chart each day; "": none
    at: Annotated[str, AfterValidator(_hhmm)] = "08:00"  # in [hours] timezone, or UTC without [hours]


class AgentSection(_Section):
    signature: Annotated[str, Field(max_length=20)] = ""


class Topic(_Section):
    name: Annotated[str, Field(min_length=1)]
    channel: ChannelIdStr
    keywords: list[Annotated[str, Field(min_length=1)]] = []
    hashtags: list[Annotated[str, Field(min_length=1)]] = []
    languages: list[Annotated[str, Field(min_length=2, max_length=8)]] = []

    @field_validator("hashtags")
    @classmethod
    def _strip_hash(cls, tags: list[str]) -> list[str]:
        return [t.lstrip("#") for t in tags]


# Set while Settings.of builds settings from given values alone (see there).
_values_only: ContextVar[bool] = ContextVar("values_only", default=False)


class Settings(BaseSettings):
    """Everything in ``settings.toml``; see the commented file in the repository root."""

    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    slack: SlackSection
    x: XSection = XSection()
    emoji: EmojiSection = EmojiSection()
    replies: RepliesSection = RepliesSection()
    hours: HoursSection | None = None
    privacy: PrivacySection = PrivacySection()
    dm: DmSection = DmSection()
    reminders: RemindersSection = RemindersSection()
    sla: SlaSection = SlaSection()
    digest: DigestSection = DigestSection()
    saved_replies: dict[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")],
                        Annotated[str, Field(min_length=1, max_length=2000)]] = {}
    agents: dict[UserIdStr, AgentSection] = {}
    topics: list[Topic] = []

    @classmethod
    def of(cls, values: dict) -> Settings:
        """Settings from ``values`` alone, validated by the same rules as the file.

        A plain ``Settings(**values)`` would merge the file and the environment in again (tables
        key by key), so an agent removed from ``values`` would come back from the file.
        """
        token = _values_only.set(True)
        try:
            return cls(**values)
        finally:
            _values_only.reset(token)

    @field_validator("topics")
    @classmethod
    def _distinct_topic_names(cls, topics: list[Topic]) -> list[Topic]:
        # Admins name topics in /xdesk commands, case-insensitively: a name must say which one.
        seen: set[str] = set()
        for topic in topics:
            if topic.name.casefold() in seen:
                raise ValueError(f"two topics are named {topic.name!r}; each topic needs its own name")
            seen.add(topic.name.casefold())
        return topics

    @field_validator("agents", mode="before")
    @classmethod
    def _agent_ids_upper(cls, agents: object) -> object:
        # BRIDGE_AGENTS__U0BOB00001__SIGNATURE arrives with its key lower-cased.
        if isinstance(agents, dict):
            return {str(k).upper(): v for k, v in agents.items()}
        return agents

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _values_only.get():
            return (init_settings,)
        path = Path(os.environ.get("BRIDGE_SETTINGS", "settings.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))

    def warnings(self) -> list[str]:
        """What is allowed but probably not meant, one line each (``python -m bridge check`` prints them)."""
        lines = []
        if not self.slack.agents:
            lines.append("slack.agents is empty: anyone in the workspace may claim a case and tweet as the brand "
                         "(list the agents, or add them with /xdesk agent add)")
        unsigned = [u for u in self.slack.agents if u.startswith(("U", "W")) and not self.signature_of(u)]
        unsigned += [u for u, a in self.agents.items() if not a.signature and u not in unsigned]
        lines += [f"agents.{user}: no signature: their tweets go out unsigned (set agents.{user}.signature)"
                  for user in unsigned]
        return lines

    def signature_of(self, user: str) -> str:
        agent = self.agents.get(user)  # type: ignore[call-overload]
        return agent.signature if agent else ""


class Environment(BaseModel):
    """Secrets and endpoints: environment variables only, never in ``settings.toml``."""

    model_config = ConfigDict(frozen=True)

    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    x_api_key: str = ""
    x_api_secret: str = ""
    x_access_token: str = ""
    x_access_token_secret: str = ""
    redis_url: str = ""
    bridge_data_dir: Path = Path("var")
    slack_api_url: str = "https://slack.com/api/"
    x_api_url: str = "https://api.twitter.com"
    port: int = Field(3000, ge=0, le=65535)
    metrics_token: str = ""  # GET /metrics needs it as a bearer token when set

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Environment:
        environ = dict(os.environ if environ is None else environ)
        values = {name: environ[name.upper()] for name in cls.model_fields if environ.get(name.upper())}
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(one_line(exc, env=True)) from None

    @property
    def has_slack(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def has_x(self) -> bool:
        return all((self.x_api_key, self.x_api_secret, self.x_access_token, self.x_access_token_secret))

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing logs."""
        return [
            s
            for s in (
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.x_api_key,
                self.x_api_secret,
                self.x_access_token,
                self.x_access_token_secret,
                self.metrics_token,
            )
            if s
        ]


def one_line(exc: ValidationError, env: bool = False) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if env:
        loc = loc.upper()
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "is required but missing"
    elif err["type"] == "extra_forbidden":
        msg = "is not a known setting (a typo?)"
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    where = "environment" if env else "settings"
    return f"{where}: {loc}: {msg}{more}"


def load() -> Settings:
    """Read and validate the settings, or raise :class:`SettingsError` with one line naming the key."""
    path = Path(os.environ.get("BRIDGE_SETTINGS", "settings.toml"))
    if not path.is_file():
        raise SettingsError(f"settings: file {path} not found (set BRIDGE_SETTINGS to its path)")
    try:
        settings = Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(one_line(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings: {path} is not valid TOML: {exc}") from None
    except PydanticSettingsError as exc:  # an environment override that is not valid JSON for a list or table
        raise SettingsError(f"environment: {exc} (lists and tables are written as JSON, e.g. '[\"U0ADMIN001\"]')")\
            from None
    return settings
