"""Bringing the data of an earlier version into the current layout, once, when a process starts.

Version 3 indexes the open cases nobody holds (``queue``) and each user's claims (``claims:<user>``),
which the App Home and ``/metrics`` read; a case stored before is indexed by one idempotent script.

Version 2 keeps the lookups from tweets, conversations, Slack parents and customers to their cases as
fields of bucketed hashes (bridge/storage/keys.py) instead of one key each. Each old key is moved by
one script (read, write the field, delete), so a process killed midway leaves every lookup in one
place or the other, and the next start goes on where it stopped. Until ``schema`` says 2, a process
moves what it finds; after that, starting costs one read.
"""

from __future__ import annotations

import logging

import redis

from bridge.core.log import kv
from bridge.storage.keys import Keys
from bridge.storage.scripts import BUCKETS

log = logging.getLogger(__name__)

SCHEMA = 3

# KEYS[1] the old key; ARGV: the prefix, the family it goes to, the field, and 'list' for a customer's
# case ids (a list before, spaces now; ids moved by an earlier run are not added twice).
_MOVE = """
local p, family, name, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
""" + BUCKETS + """
if kind == 'list' then
  local have = {}
  for id in string.gmatch(redis.call('HGET', bucket(family, name), name) or '', '%S+') do have[id] = true end
  for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    if not have[id] then add_case_of_customer(name, id) end
  end
else
  local value = redis.call('GET', KEYS[1])
  if value then redis.call('HSETNX', bucket(family, name), name, value) end
end
return redis.call('DEL', KEYS[1])
"""

# KEYS[1] a case. ARGV: the prefix, the case id. Adding twice changes nothing.
_INDEX = """
local p, case_id = ARGV[1], ARGV[2]
local status, claimer, opened, since = unpack(redis.call('HMGET', KEYS[1], 'status', 'claimer', 'opened_at',
  'waiting_since'))
if not status or status == 'resolved' then return 0 end
if (claimer or '') == '' then
  redis.call('ZADD', p..'queue', 'NX', tonumber(opened) or tonumber(since) or 0, case_id)
else
  redis.call('SADD', p..'claims:'..claimer, case_id)
end
return 1
"""

# (old family, new family, whether the old key was a list of case ids)
_FAMILIES = (("tweet", "tweets", False), ("conv", "convs", False), ("parent", "parents", False),
             ("customer", "customers", True))


def upgrade(r: redis.Redis, keys: Keys) -> int:
    """Bring the data up to :data:`SCHEMA`; the number of keys moved or cases indexed."""
    if int(r.get(keys.schema) or 0) >= SCHEMA:
        return 0
    move = r.register_script(_MOVE)
    moved = 0
    for old, new, is_list in _FAMILIES:
        head = f"{keys.p}{old}:"
        for key in r.scan_iter(match=f"{head}*", count=1000):
            # parent:<channel>:<ts> goes to the field <channel>:<ts>, as every other key to its name
            move(keys=[key], args=[keys.p, new, key[len(head):], "list" if is_list else ""])
            moved += 1
    index = r.register_script(_INDEX)
    head = f"{keys.p}case:"
    for key in r.scan_iter(match=f"{head}*", count=1000):
        moved += index(keys=[key], args=[keys.p, key[len(head):]])
    r.set(keys.schema, SCHEMA)
    if moved:
        log.warning(kv("redis.upgraded", schema=SCHEMA, moved=moved))
    return moved
