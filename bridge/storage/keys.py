"""Every Redis key family the bridge writes, spelled once, all under one prefix (``xdesk:`` by default).

Python code takes its keys from :class:`Keys`; the Lua scripts (:mod:`bridge.storage.scripts`) are
given the prefix and spell the same families. Families, with what they hold and how long:

Cases and tweets (kept while the case exists)
  ``case:<id>`` hash of a case; ``seq:case`` the case counter; ``tweetdata:<tweet id>`` the stored tweet;
  ``brand`` the brand account (hash). Lookups, as fields of hashes bucketed by the last three digits
  of what they look up (``<b>``): ``tweets:<b>`` tweet id -> case id, for every customer tweet and
  every reply the brand sent; ``convs:<b>`` conversation id -> case id; ``parents:<b>``
  ``<channel>:<ts>`` -> case id; ``customers:<b>`` X user id -> the customer's case ids, oldest first.
  ``schema`` the layout's version (bridge/storage/upgrade.py).
Reading X
  ``cursor:<source>`` newest tweet id stored from a source; ``gap:<source>`` a backlog still to read;
  ``poll:<source>`` the shared polling turn; ``deletions:turn`` the deletion watch's turn;
  ``dmask:<X user id>`` -> the case that asked them for a DM (30 days); ``dmcase:<X user id>``;
  ``dmbacklog`` DM events still to read.
The desk's clock
  ``clock:turn`` the shared turn; ``unclaimed``, ``waiting`` sorted sets of cases by when they wait from,
  for reminders (emptied as they are taken); ``queue`` the open cases nobody holds, by when they came in;
  ``claims:<user>`` the unresolved cases a user holds;
  ``closed`` closed periods, ``closed:<period>[:<channel>]`` what came in; ``summarized:<period>:<channel>``,
  ``autoreplied:<period>:<user id>`` once-marks (14 days).
Slack events and messages (7 days unless said)
  ``event:<event id>`` handled; ``eventlock:<event id>`` being handled (10 s); ``msg:<channel>:<ts>`` a
  thread message taken as a reply; ``notcase:<channel>:<ts>`` a message known not to be a parent (10 min);
  ``joined:<channel>`` the bot joined it (1 day); ``permalink:<channel>:<ts>`` (30 days);
  ``role:<user>`` a role looked up in Slack (5 min).
Personal data (:mod:`bridge.storage.customers`)
  ``salt``; ``erased:<salted hash of a tweet id>`` an erased tweet, never posted again (8 days);
  ``erasure:<salted hash of the user id>`` an erasure under way (what it removes; a week at most);
  ``eraserequest:<hash>`` the handle an admin's confirmed ``/xdesk erase`` waits to erase (an hour).
The App Home: ``homequeued:<user>`` a refresh of the user's Home is queued and not begun (a minute).
The desk's figures (:mod:`bridge.storage.figures`)
  ``metrics`` hash of running totals (cases opened by topic, replies by kind, first responses, X calls by
  endpoint and answer, X cost); ``day:<date>`` a day's figures and ``dayfr:<date>`` its first responses
  (400 days); ``counted:<job id>`` a reply counted (a day); ``xlimits`` X's budget left by endpoint;
  ``xcost`` X's cost by month; ``xseen:<utc day>:<kind>`` resources X billed that day (2 days);
  ``heartbeats`` workers by when they were last heard of; ``followers`` the brand's follower count, hourly.
The desk as admins changed it in Slack (:mod:`bridge.storage.desk_config`)
  ``config`` hash: ``version`` and ``overlay``, the changes kept over settings.toml; ``config:audit`` the
  audit log, newest first (1,000 kept); ``config:once:<command>`` the answer to a command already
  carried out (a day); changes are announced on the pub/sub channel ``config``.
The outbox (:mod:`bridge.storage.outbox`)
  ``lane:<lane>`` a lane's jobs; ``lanes`` the lanes with jobs; ``lease:<lane>``; ``pace:<lane>``;
  ``wake`` wakes a waiting worker; ``done:<job id>`` a job's result (a day; a reply's 14 days); ``dead`` dead letters;
  ``attempts:<job id>`` unexpected failures of a job.
A job's effects (14 days)
  ``attempt:<job id>[:<part>]`` marks of an attempt on X or Slack (:class:`bridge.storage.lanes.Attempts`);
  ``parts:<job id>`` the tweets a reply job sent; ``cancel:<job id>`` a reply withdrawn before it went out;
  ``replyjob:<channel>:<ts>`` the job that tweets a Slack message once its text was replaced;
  ``edit:<channel>:<ts>`` the newest text of an edited reply; ``unsent:<job id>`` tweets deleted on X;
  ``delayed:<job id>`` the agent was told the job waits; ``media:<job id>:<index>`` an uploaded file's id;
  ``move:<case>``, ``moveprogress:<job id>``, ``movesnap:<job id>`` a move of a case;
  ``once:<what>`` and the other once-marks of :meth:`bridge.storage.store.Store.queue_once`.
"""

from __future__ import annotations

PREFIX = "xdesk:"
BUCKET_DIGITS = 3  # 1,000 buckets: compact up to 128,000 entries a family, Redis's default listpack size


class Keys:
    def __init__(self, prefix: str = PREFIX) -> None:
        self.p = prefix

    def key(self, family: str, *parts: object) -> str:
        """``<prefix><family>:<part>:...``: for the once-marks whose name says what they guard."""
        return ":".join([f"{self.p}{family}", *(str(part) for part in parts)])

    # cases and tweets
    def case(self, case_id: str) -> str:
        return f"{self.p}case:{case_id}"

    # Lookups kept for as long as their case, one small field each: (hash, field). A key of its own
    # cost 60 to 170 bytes each (bench/perf.py, issue 9); a field of a hash kept compact (a listpack,
    # up to ``hash-max-listpack-entries`` fields) some 30. Bucketed by the id's last digits, as the
    # Lua scripts do (``bucket`` in bridge/storage/scripts.py).
    def tweet(self, tweet_id: str) -> tuple[str, str]:
        return self._bucket("tweets", tweet_id)

    def conversation(self, conversation_id: str) -> tuple[str, str]:
        return self._bucket("convs", conversation_id)

    def parent(self, channel: str, ts: str) -> tuple[str, str]:
        return self._bucket("parents", f"{channel}:{ts}")

    def customer(self, user_id: str) -> tuple[str, str]:
        """The customer's case ids, oldest first, separated by spaces."""
        return self._bucket("customers", user_id)

    def _bucket(self, family: str, name: str) -> tuple[str, str]:
        return f"{self.p}{family}:{name[-BUCKET_DIGITS:]}", name

    def tweetdata(self, tweet_id: str) -> str:
        return f"{self.p}tweetdata:{tweet_id}"

    @property
    def schema(self) -> str:
        return f"{self.p}schema"

    @property
    def case_seq(self) -> str:
        return f"{self.p}seq:case"

    @property
    def brand(self) -> str:
        return f"{self.p}brand"

    # reading X
    def cursor(self, source: str) -> str:
        return f"{self.p}cursor:{source}"

    def gap(self, source: str) -> str:
        return f"{self.p}gap:{source}"

    def poll(self, source: str) -> str:
        return f"{self.p}poll:{source}"

    @property
    def deletions_turn(self) -> str:
        return f"{self.p}deletions:turn"

    def dm_ask(self, customer: str) -> str:
        return f"{self.p}dmask:{customer}"

    @property
    def dm_backlog(self) -> str:
        return f"{self.p}dmbacklog"

    # the clock
    @property
    def clock_turn(self) -> str:
        return f"{self.p}clock:turn"

    @property
    def unclaimed(self) -> str:
        return f"{self.p}unclaimed"

    def claims(self, user: str) -> str:
        """Set: the cases ``user`` holds (resolved ones leave it)."""
        return f"{self.p}claims:{user}"

    @property
    def queue(self) -> str:
        """Sorted set: the open cases nobody holds, by when they came in (the App Home, /metrics)."""
        return f"{self.p}queue"

    @property
    def waiting(self) -> str:
        return f"{self.p}waiting"

    def closed(self, period: str) -> str:
        return f"{self.p}closed:{period}"

    # Slack events and messages
    def event(self, event_id: str) -> str:
        return f"{self.p}event:{event_id}"

    def event_lock(self, event_id: str) -> str:
        return f"{self.p}eventlock:{event_id}"

    def message(self, channel: str, ts: str) -> str:
        return f"{self.p}msg:{channel}:{ts}"

    def not_case(self, channel: str, ts: str) -> str:
        return f"{self.p}notcase:{channel}:{ts}"

    def joined(self, channel: str) -> str:
        return f"{self.p}joined:{channel}"

    def permalink(self, channel: str, ts: str) -> str:
        return f"{self.p}permalink:{channel}:{ts}"

    def role(self, kind: str, user: str) -> str:
        return f"{self.p}role:{kind}:{user}"

    @property
    def salt(self) -> str:
        """The salt of the hashes an erased customer's ids are kept as (bridge/storage/customers.py)."""
        return f"{self.p}salt"

    # the desk's figures
    @property
    def metrics(self) -> str:
        return f"{self.p}metrics"

    def day(self, day: str) -> str:
        return f"{self.p}day:{day}"

    def day_first_responses(self, day: str) -> str:
        return f"{self.p}dayfr:{day}"

    @property
    def x_limits(self) -> str:
        return f"{self.p}xlimits"

    @property
    def x_cost(self) -> str:
        return f"{self.p}xcost"

    @property
    def followers(self) -> str:
        """Sorted set: the brand's follower count, sampled hourly, members ``<at>:<count>`` (400 days)."""
        return f"{self.p}followers"

    @property
    def heartbeats(self) -> str:
        return f"{self.p}heartbeats"

    # the desk as admins changed it
    @property
    def config(self) -> str:
        """Hash ``version``, ``overlay``; also the pub/sub channel every process hears changes on."""
        return f"{self.p}config"

    @property
    def config_audit(self) -> str:
        return f"{self.p}config:audit"

    def config_once(self, command: str) -> str:
        return f"{self.p}config:once:{command}"

    # the outbox
    def lane(self, lane: str) -> str:
        return f"{self.p}lane:{lane}"

    @property
    def lanes(self) -> str:
        return f"{self.p}lanes"

    def lease(self, lane: str) -> str:
        return f"{self.p}lease:{lane}"

    def pace(self, lane: str) -> str:
        return f"{self.p}pace:{lane}"

    @property
    def wake(self) -> str:
        return f"{self.p}wake"

    def done(self, job_id: str) -> str:
        return f"{self.p}done:{job_id}"

    @property
    def parked(self) -> str:
        """Hash lane -> the job an operator must fix something for, and what (``python -m bridge outbox``)."""
        return f"{self.p}parked"

    @property
    def dead(self) -> str:
        return f"{self.p}dead"

    def x_budget(self, endpoint: str) -> str:
        """Hash ``remaining``, ``reset``: X's write budget for ``endpoint``, shared by every lane."""
        return f"{self.p}xbudget:{endpoint}"

    def slack_pace(self, channel: str) -> str:
        """When the next post to ``channel`` is due under Slack's pace (bridge/storage/limits.py)."""
        return f"{self.p}slackpace:{channel}"

    def x_budget_probe(self, endpoint: str) -> str:
        """Set while the one write that learns a new window's count is on its way (15 s at most)."""
        return f"{self.p}xbudget-probe:{endpoint}"

    def failures(self, job_id: str) -> str:
        return f"{self.p}attempts:{job_id}"

    # a job's effects
    def attempt(self, job_id: str, part: int | None = None) -> str:
        return f"{self.p}attempt:{job_id}" + (f":{part}" if part is not None else "")

    def parts(self, job_id: str) -> str:
        return f"{self.p}parts:{job_id}"

    def cancel(self, job_id: str) -> str:
        return f"{self.p}cancel:{job_id}"

    def reply_job(self, channel: str, ts: str) -> str:
        return f"{self.p}replyjob:{channel}:{ts}"

    def edit(self, channel: str, ts: str) -> str:
        return f"{self.p}edit:{channel}:{ts}"

    def unsent(self, job_id: str) -> str:
        return f"{self.p}unsent:{job_id}"

    def delayed(self, job_id: str) -> str:
        return f"{self.p}delayed:{job_id}"

    def media(self, job_id: str, index: int) -> str:
        return f"{self.p}media:{job_id}:{index}"

    def move(self, case_id: str) -> str:
        return f"{self.p}move:{case_id}"

    def move_progress(self, job_id: str) -> str:
        return f"{self.p}moveprogress:{job_id}"

    def move_snapshot(self, job_id: str) -> str:
        return f"{self.p}movesnap:{job_id}"
