"""Everything Redis holds about one X user, found, exported and erased (SPEC "Personal data").

Finding a customer's data is a scan (their cases, the lookups pointing at them): rare admin work,
so no index is kept for it. Erasing is planned first: the plan (ids only: cases, tweets, where their
Slack messages are) is stored before anything is removed, so an erasure killed half way is finished
by the next run; every step after it can be repeated. A final sweep looks at every key for what is
still theirs (their id, handle, name or a tweet's text) and removes it.

An erased tweet must not be posted again when a search returns it (up to 7 days): a salted hash of its
id is kept for 8 days, which the ingest script checks (``erased:<hash>``). Their next tweet opens a new
case: erasure is not a ban.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from bridge.storage.store import Store, tweet_from_json

ERASED_TWEET_TTL = 8 * 86400  # X's recent search reaches 7 days back
PLAN_TTL = 7 * 86400


@dataclass
class Plan:
    """What an erasure removes, by id only (it is kept while the erasure runs)."""

    user_id: str
    cases: list[str] = field(default_factory=list)
    tweets: list[str] = field(default_factory=list)  # the customer's tweets and DMs, and the brand's replies
    parents: list[tuple[str, str]] = field(default_factory=list)  # every parent the cases had: (channel, ts)
    since: float = 0.0  # when the first case opened: the Slack history looked at for mentions of them
    # What is theirs alone, looked for everywhere: their id, handle, media and picture URLs. Kept with the
    # plan while the erasure runs (a week at most), so that a second run finds what the first left.
    traces: list[str] = field(default_factory=list)
    whole: bool = True  # all the customer's cases; False: some of them (retention), the customer stays


def _batches(items: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class CustomerRecords:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.r: redis.Redis = store.r
        self.keys = store.keys

    # -- finding ------------------------------------------------------------------------------------

    def resolve(self, handle: str) -> str | None:
        """The X user id of ``handle`` (a username with or without "@", or a numeric id) if anything is
        stored about them."""
        wanted = handle.strip().removeprefix("@")
        if wanted.isdigit():
            return wanted if self.r.hget(*self.keys.customer(wanted)) else None
        for batch in _batches(self.r.scan_iter(f"{self.keys.p}case:*", count=1000)):
            with self.r.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.hmget(key, "customer_handle", "customer_id")
                for found_handle, user_id in pipe.execute():
                    if found_handle and found_handle.casefold() == wanted.casefold():
                        return str(user_id)
        return None

    def plan(self, user_id: str, only: list[str] | None = None) -> Plan:
        """What is stored about ``user_id`` (``only``: about those of their cases); an erasure under way
        keeps its own plan."""
        kept = self.plan_at(self._plan_key(user_id))
        if kept:
            return kept
        every = (self.r.hget(*self.keys.customer(user_id)) or "").split()
        cases = [c for c in every if only is None or c in only]
        plan = Plan(user_id, cases, whole=set(cases) >= set(every))
        wanted = set(cases)
        for family in ("tweets", "parents"):
            for key in self.r.scan_iter(f"{self.keys.p}{family}:*", count=1000):
                for name, case_id in self.r.hgetall(key).items():
                    if case_id not in wanted:
                        continue
                    if family == "tweets":
                        plan.tweets.append(name)
                    else:
                        channel, _, ts = name.partition(":")
                        plan.parents.append((channel, ts))
        opened = [float(self.r.hget(self.keys.case(c), "opened_at") or 0) for c in cases]
        plan.since = min([o for o in opened if o] or [0.0])
        # Only what is theirs alone: two customers may write the same words or share a name (or X's
        # default picture), and the sweep must never touch the other one's data. Their texts and name
        # live in their cases and tweets, which go by id.
        traces = {user_id}
        for case_id in cases:
            traces.add(self.r.hget(self.keys.case(case_id), "customer_handle") or "")
        for tweet_id in plan.tweets:
            raw = self.r.get(self.keys.tweetdata(tweet_id))
            if raw:
                tweet = tweet_from_json(raw)
                if tweet.author.id == user_id:
                    traces |= {tweet.author.username, *(m.url for m in tweet.media if m.url)}
                    picture = tweet.author.profile_image_url or ""
                    if picture and "default_profile" not in picture:
                        traces.add(picture)
        plan.traces = sorted(t for t in traces if len(t) >= 3)  # "Al" would match too much
        return plan

    def plan_at(self, key: str) -> Plan | None:
        """The plan of an erasure under way, kept at ``key``."""
        kept = self.r.get(key)
        if not kept:
            return None
        raw = json.loads(kept)
        return Plan(raw["user_id"], raw["cases"], raw["tweets"], [(c, t) for c, t in raw["parents"]],
                    raw["since"], raw["traces"], raw.get("whole", True))

    def begin(self, plan: Plan) -> None:
        self.r.set(self._plan_key(plan.user_id), json.dumps(asdict(plan)), ex=PLAN_TTL)

    def done(self, user_id: str) -> None:
        self.r.delete(self._plan_key(user_id))

    def _plan_key(self, user_id: str) -> str:
        return self.keys.key("erasure", self.hashed(user_id))

    def resolved_before(self, cutoff: float) -> dict[str, list[str]]:
        """Cases resolved before ``cutoff``, by their customer's X user id (retention). A scan of every
        case, once a day: an index would cost each stored case more than the scan costs the day."""
        by_customer: dict[str, list[str]] = {}
        head = f"{self.keys.p}case:"
        for batch in _batches(self.r.scan_iter(f"{head}*", count=1000)):
            with self.r.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.hmget(key, "status", "resolved_at", "customer_id")
                for key, (status, resolved_at, customer) in zip(batch, pipe.execute(), strict=True):
                    if status == "resolved" and resolved_at and float(resolved_at) < cutoff and customer:
                        by_customer.setdefault(customer, []).append(key.removeprefix(head))
        return by_customer

    def hashed(self, value: str) -> str:
        """``value`` as a salted hash: what may stay of an erased customer (audit, dedupe of their tweets)."""
        salt = self.r.get(self.keys.salt)
        if salt is None:
            self.r.set(self.keys.salt, secrets.token_hex(16), nx=True)
            salt = self.r.get(self.keys.salt)
        return hashlib.sha1(f"{salt}{value}".encode()).hexdigest()

    # -- export -------------------------------------------------------------------------------------

    def export(self, plan: Plan) -> dict[str, Any]:
        """Everything stored about the customer, readable: their cases with their tweets and DMs, and who
        answered what and when; nothing about anyone else."""
        cases = []
        for case_id in plan.cases:
            case = self.r.hgetall(self.keys.case(case_id))
            if not case:
                continue
            messages = []
            for tweet_id in plan.tweets:
                raw = self.r.get(self.keys.tweetdata(tweet_id))
                if raw and self.r.hget(*self.keys.tweet(tweet_id)) == case_id:
                    tweet = tweet_from_json(raw)
                    messages.append({"id": tweet.id, "kind": "direct message" if tweet.direct else "tweet",
                                     "text": tweet.text, "created_at": tweet.created_at,
                                     "media": [m.url for m in tweet.media if m.url]})
            brand_replies = [t for t in plan.tweets if self.r.hget(*self.keys.tweet(t)) == case_id
                             and not self.r.exists(self.keys.tweetdata(t))]
            cases.append({"case": case_id, "stored": case, "messages": messages,
                          "brand_replies": brand_replies})
        return {"x_user_id": plan.user_id, "cases": cases}

    # -- erasure ------------------------------------------------------------------------------------

    def erase(self, plan: Plan) -> int:
        """Remove every key and value of the customer's, then sweep every key left for their traces.
        The number of cases erased."""
        erased = 0
        claimers = {c: self.r.hget(self.keys.case(c), "claimer") or "" for c in plan.cases}
        with self.r.pipeline(transaction=True) as pipe:
            for tweet_id in plan.tweets:
                pipe.delete(self.keys.tweetdata(tweet_id))
                pipe.hdel(*self.keys.tweet(tweet_id))
                pipe.hdel(*self.keys.conversation(tweet_id))
                pipe.set(self.keys.key("erased", self.hashed(tweet_id)), 1, ex=ERASED_TWEET_TTL)
            for channel, ts in plan.parents:
                pipe.hdel(*self.keys.parent(channel, ts))
                pipe.delete(self.keys.permalink(channel, ts))
            for case_id in plan.cases:
                erased += 1
                pipe.delete(self.keys.case(case_id), self.keys.lane(f"x:{case_id}"))
                pipe.zrem(self.keys.unclaimed, case_id)
                pipe.zrem(self.keys.waiting, case_id)
                pipe.zrem(self.keys.queue, case_id)
                if claimers[case_id]:
                    pipe.srem(self.keys.claims(claimers[case_id]), case_id)
            if plan.whole:
                pipe.hdel(*self.keys.customer(plan.user_id))
                pipe.delete(self.keys.dm_ask(plan.user_id), self.keys.key("dmcase", plan.user_id))
            pipe.execute()
        if plan.whole:
            self._sweep(plan)
        else:  # their other cases stay, and with them what says who they are
            left = [c for c in (self.r.hget(*self.keys.customer(plan.user_id)) or "").split() if c not in plan.cases]
            self.r.hset(*self.keys.customer(plan.user_id), " ".join(left))
        return erased

    def _sweep(self, plan: Plan) -> None:
        """Whatever still holds a trace of theirs: a key named after them goes; in a shared key, the
        entry that holds it (a conversation's lookup, a job in a lane, a set member)."""
        cases = set(plan.cases)
        # Whole words only: a user id "4711" must not match inside another number.
        pattern = re.compile("|".join(rf"(?<![\w]){re.escape(t)}(?![\w])" for t in plan.traces))

        def theirs(text: str) -> bool:
            return bool(plan.traces) and bool(pattern.search(text))

        own = self._plan_key(plan.user_id)
        for key in self.r.scan_iter(f"{self.keys.p}*", count=1000):
            if key == own:
                continue
            if theirs(key.removeprefix(self.keys.p)):
                self.r.delete(key)
                continue
            kind = self.r.type(key)
            if kind == "string":
                value = self.r.get(key) or ""
                if theirs(value):
                    self.r.delete(key)
            elif kind == "hash":
                for name, value in self.r.hgetall(key).items():
                    if theirs(name) or theirs(value) or (value in cases and key.startswith(f"{self.keys.p}convs:")):
                        self.r.hdel(key, name)
            elif kind == "list":
                for value in self.r.lrange(key, 0, -1):
                    if theirs(value) or _job_of(value, cases):
                        self.r.lrem(key, 0, value)
            elif kind == "set":
                gone = [m for m in self.r.smembers(key) if theirs(m)]
                if gone:
                    self.r.srem(key, *gone)
            elif kind == "zset":
                gone = [m for m in self.r.zrange(key, 0, -1) if theirs(m)]
                if gone:
                    self.r.zrem(key, *gone)


def _job_of(raw: str, cases: set[str]) -> bool:
    """A queued job of one of ``cases`` (its effects would show or send what is erased)."""
    try:
        job = json.loads(raw)
    except json.JSONDecodeError:
        return False
    return isinstance(job, dict) and str(job.get("case", "")) in cases


