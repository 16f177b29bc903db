"""The changes admins make in Slack, kept in Redis over ``settings.toml``, and the settings every
process works with: the same version everywhere within moments of a change, no restart.

One hash holds the :class:`~bridge.core.desk_config.Overlay` and its version. A change is committed
only over the version it was made from (two admins at once: one wins whole, the other is told), in one
transaction with its audit entry, the answer kept for a repeated delivery, and the audit channel's
post; it is announced on a pub/sub channel, which every process's :meth:`LiveSettings.watch` hears.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis

from bridge.core.desk_config import Overlay, Refused, effective
from bridge.core.log import kv
from bridge.core.settings import Settings
from bridge.storage.loops import REDIS_ERRORS
from bridge.storage.store import Store

log = logging.getLogger(__name__)

AUDIT_KEPT = 1000
ONCE_TTL = 24 * 3600  # a repeated delivery of a command comes within seconds; a day is plenty


@dataclass(frozen=True)
class Snapshot:
    version: int
    overlay: Overlay


@dataclass(frozen=True)
class Commit:
    outcome: Literal["done", "repeat", "conflict"]
    answer: str = ""  # for a repeat: the answer the first delivery got


class DeskConfig:
    """The overlay in Redis: read it, commit a change over the version it was made from, the audit log."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.r = store.r
        self.keys = store.keys

    def snapshot(self) -> Snapshot:
        version, raw = self.r.hmget(self.keys.config, "version", "overlay")
        return Snapshot(int(version or 0), Overlay.parse(raw))

    def answered(self, command: str) -> str | None:
        """The answer a command already carried out got (Slack delivered it twice), else None."""
        return self.r.get(self.keys.config_once(command))

    def commit(self, base: Snapshot, overlay: Overlay, *, command: str, by: str, what: str, answer: str,
               at: float, jobs: list[tuple[str, dict]] | None = None) -> Commit:
        """Store ``overlay`` as the next version, if the stored one is still ``base``'s."""
        once = self.keys.config_once(command)
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.keys.config, once)
                if (earlier := pipe.get(once)) is not None:
                    return Commit("repeat", earlier)
                if int(pipe.hget(self.keys.config, "version") or 0) != base.version:
                    return Commit("conflict")
                version = base.version + 1
                pipe.multi()
                pipe.hset(self.keys.config, mapping={"version": version, "overlay": overlay.dump()})
                pipe.lpush(self.keys.config_audit, json.dumps({"by": by, "at": at, "what": what, "version": version}))
                pipe.ltrim(self.keys.config_audit, 0, AUDIT_KEPT - 1)
                pipe.set(once, answer, ex=ONCE_TTL)
                for lane, job in jobs or []:
                    self.store.outbox.push(lane, job, pipe=pipe)
                pipe.publish(self.keys.config, str(version))
                pipe.execute()
            except redis.WatchError:
                return Commit("conflict")
        return Commit("done")

    def note(self, by: str, what: str, at: float) -> None:
        """An entry in the audit log that changes no setting (an erasure: who, when, how many)."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.lpush(self.keys.config_audit, json.dumps({"by": by, "at": at, "what": what}))
            pipe.ltrim(self.keys.config_audit, 0, AUDIT_KEPT - 1)
            pipe.execute()

    def audit(self, count: int = 20) -> list[dict[str, Any]]:
        """The last ``count`` changes, newest first."""
        return [json.loads(raw) for raw in self.r.lrange(self.keys.config_audit, 0, count - 1)]


class LiveSettings:
    """The settings in force now: ``settings.toml``'s with the admins' changes over them.

    Reads as the :class:`Settings` it stands for (``live.topics``, ``live.hours``...): each attribute
    comes from the newest version this process has heard of. A new version replaces the whole
    settings object at once, so a reader sees the old settings or the new ones, never a mix.
    """

    def __init__(self, base: Settings, config: DeskConfig) -> None:
        self.base = base
        self.config = config
        self.version = 0
        self.overlay = Overlay()
        self._now = base
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._now, name)

    @property
    def now(self) -> Settings:
        """The settings in force at this moment (one snapshot: read several fields from it together)."""
        return self._now

    def view(self) -> Settings:
        """This live view, typed as the settings it stands for, for the parts that read settings."""
        return cast(Settings, self)

    @property
    def changes_allowed(self) -> bool:
        return self.base.slack.admin_changes

    def refresh(self) -> None:
        """Take the stored version, if it is newer than this process's."""
        with self._lock:
            snap = self.config.snapshot()
            if snap.version == self.version and self.version:
                return
            self.install(snap)

    def install(self, snap: Snapshot) -> None:
        if not self.changes_allowed:  # [slack] admin_changes = false: the file alone
            self.version, self.overlay, self._now = snap.version, Overlay(), self.base
            return
        try:
            settings = effective(self.base, snap.overlay)
        except Refused as exc:
            # The file changed under the admins' changes so that they no longer fit together.
            log.error(kv("config.overlay_refused", version=snap.version, problem=str(exc),
                         action="the desk runs on settings.toml alone; fix the file or undo the change in Slack"))
            settings = self.base
        if snap.version != self.version:
            log.info(kv("config.version", version=snap.version, topics=len(settings.topics)))
        self.version, self.overlay, self._now = snap.version, snap.overlay, settings

    def watch(self, stop: threading.Event) -> None:
        """Take every new version as it is announced, until ``stop``; through Redis outages too."""
        failures = 0
        while not stop.is_set():
            try:
                with self.config.r.pubsub(ignore_subscribe_messages=True) as sub:
                    sub.subscribe(self.config.keys.config)
                    self.refresh()  # what was committed before the subscription took hold
                    failures = 0
                    while not stop.is_set():
                        # Blocks in the socket; the timeout only lets ``stop`` be seen.
                        if sub.get_message(timeout=1.0) is not None:
                            self.refresh()
            except REDIS_ERRORS as exc:
                failures += 1
                if failures == 1 and not stop.is_set():
                    log.warning(kv("config.watch_interrupted", error=f"{type(exc).__name__}: {exc}"))
                stop.wait(min(5.0, 0.2 * 2 ** min(failures, 5)))
