"""The Lua scripts behind :class:`bridge.storage.store.Store`: each change that must not be half-done.

Redis runs a script atomically (https://redis.io/docs/latest/develop/interactive/programmability/eval-intro/),
so a tweet is never stored without the jobs that show it, and two agents claiming at once see one winner.
"""


# The one way a script queues a job: push it in its lane, and wake a waiting worker once at the end
# (the Python side is bridge.storage.outbox.Outbox.push). Put after ``local p`` (the key prefix).
# Only a push into an empty lane wakes: a lane that had jobs is already known to the workers (being
# worked, its thread reads the new head after each job; waiting for its pace, the dispatcher wakes
# for it), so a backlog polled from X woke the dispatcher once per tweet for nothing (bench/perf.py).
LANE_PUSH = """
local woken = false
local function push(lane, job)
  if redis.call('RPUSH', p..'lane:'..lane, cjson.encode(job)) == 1 then woken = true end
  redis.call('SADD', p..'lanes', lane)
end
local function wake()
  if not woken then return end
  redis.call('LPUSH', p..'wake', '1')
  redis.call('LTRIM', p..'wake', 0, 63)
end
"""

# The lookups kept as fields of bucketed hashes (bridge/storage/keys.py): ``bucket('tweets', id)``.
BUCKETS = """
local function bucket(family, name)
  return p..family..':'..string.sub(name, -3)
end
local function add_case_of_customer(customer, case_id)
  local k = bucket('customers', customer)
  local ids = redis.call('HGET', k, customer)
  redis.call('HSET', k, customer, ids and (ids..' '..case_id) or case_id)
end
"""

# The desk's figures (bridge/storage/figures.py), counted by the scripts that store what they count:
# ``metrics`` the running totals /metrics shows; ``day:<date>`` a day's figures in the desk's zone
# (field ``<what>`` or ``<what>|<label>``, hours as ``h<HH>|<what>``), kept 400 days.
FIGURES = """
local DAY_TTL = 400 * 86400
local function day_count(day, field, by)
  redis.call('HINCRBYFLOAT', p..'day:'..day, field, by)
  redis.call('EXPIRE', p..'day:'..day, DAY_TTL)
end
local function case_opened(topic, day, hour)
  redis.call('HINCRBY', p..'metrics', 'cases_opened|'..topic, 1)
  day_count(day, 'opened', 1)
  day_count(day, 'opened|'..topic, 1)
  day_count(day, 'h'..hour..'|opened', 1)
end
"""

INGEST = """
local p, tid, tweet_json, conv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local channel, topic, customer, answerable = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local n_refs = tonumber(ARGV[9])
-- After the referenced ids: the time the customer waits from, and the closed period it came in ('' open).
local since, period, reply_key = ARGV[10 + n_refs], ARGV[11 + n_refs], ARGV[12 + n_refs]
-- When it came in, and that moment's day and hour in the desk's zone: the figures it counts in.
local now, day, hour = ARGV[13 + n_refs], ARGV[14 + n_refs], ARGV[15 + n_refs]
""" + BUCKETS + FIGURES + """
local existing = redis.call('HGET', bucket('tweets', tid), tid)
if existing then
  return {'duplicate', existing, redis.call('HGET', p..'case:'..existing, 'channel') or ''}
end
-- Erased on request (bridge/storage/customers.py): a search may still return it, it is not posted again.
local salt = redis.call('GET', p..'salt')
if salt and redis.call('EXISTS', p..'erased:'..redis.sha1hex(salt..tid)) == 1 then
  return {'duplicate', '', ''}
end
local case_id = false
for i = 1, n_refs do
  case_id = redis.call('HGET', bucket('tweets', ARGV[9 + i]), ARGV[9 + i])
  if case_id then break end
end
if not case_id and conv ~= '' then case_id = redis.call('HGET', bucket('convs', conv), conv) end
local outcome = 'new'
if case_id then
  local ck = p..'case:'..case_id
  channel = redis.call('HGET', ck, 'channel')
  redis.call('HSET', ck, 'latest_customer_tweet', tid)
  redis.call('HINCRBY', ck, 'tweet_count', 1)
  outcome = 'joined'
  if redis.call('HGET', ck, 'status') == 'resolved' then
    local claimer = redis.call('HGET', ck, 'claimer') or ''
    local status = 'open'
    if claimer ~= '' then status = 'claimed' end
    redis.call('HSET', ck, 'status', status, 'resolved_by', '')
    redis.call('HDEL', ck, 'resolved_at')
    outcome = 'reopened'
    if claimer == '' then redis.call('ZADD', p..'queue', now, case_id)
    else redis.call('SADD', p..'claims:'..claimer, case_id) end
  end
  redis.call('HSET', ck, 'waiting_since', since)
  if (redis.call('HGET', ck, 'claimer') or '') ~= '' then
    redis.call('ZADD', p..'waiting', since, case_id)
  elseif outcome == 'reopened' then
    redis.call('ZADD', p..'unclaimed', since, case_id)
  end
else
  case_id = tostring(redis.call('INCR', p..'seq:case'))
  local who = cjson.decode(customer)  -- kept as three short fields: the hash stays a listpack
  redis.call('HSET', p..'case:'..case_id, 'channel', channel, 'topic', topic, 'first_tweet', tid,
    'latest_customer_tweet', tid, 'customer_id', who['id'], 'customer_handle', who['username'],
    'customer_name', who['name'], 'status', 'open', 'claimer', '',
    'resolved_by', '', 'parent_ts', '', 'answerable', answerable, 'tweet_count', 1,
    'after_hours', period ~= '' and '1' or '0', 'waiting_since', since, 'opened_at', now)
  redis.call('ZADD', p..'unclaimed', since, case_id)
  -- The customer's cases, oldest first: a new case's parent lists the earlier ones.
  add_case_of_customer(who['id'], case_id)
  case_opened(topic, day, hour)
  redis.call('ZADD', p..'queue', now, case_id)
end
redis.call('HSET', bucket('tweets', tid), tid, case_id)
redis.call('SET', p..'tweetdata:'..tid, tweet_json)
if conv ~= '' then redis.call('HSETNX', bucket('convs', conv), conv, case_id) end
-- The jobs that show it in Slack are pushed in the same step: a tweet is never stored without them.
""" + LANE_PUSH + """
local post_lane = 'post:'..channel
if outcome == 'new' then
  push(post_lane, {id = 'parent:'..case_id, kind = 'parent', case = case_id})
else
  push(post_lane, {id = 'followup:'..tid, kind = 'followup', case = case_id, tweet = tid})
end
if outcome == 'reopened' then
  push(post_lane, {id = 'reopened:'..tid, kind = 'reopened', case = case_id, tweet = tid})
  push('slack:'..channel, {id = 'update:reopened:'..tid, kind = 'update', case = case_id})
end
-- A new case while the desk is closed: listed in the opening summary, and its auto-reply (at most
-- one per customer per closed period) is queued with it.
if outcome == 'new' and period ~= '' then
  local listed = p..'closed:'..period
  redis.call('RPUSH', listed..':'..channel, case_id)
  redis.call('SADD', listed, channel)
  redis.call('EXPIRE', listed..':'..channel, 1209600)
  redis.call('EXPIRE', listed, 1209600)
  redis.call('ZADD', p..'closed', since, period)
  if reply_key ~= '' and redis.call('SET', p..reply_key, '1', 'NX', 'EX', 1209600) then
    push('x:'..case_id, {id = 'autoreply:'..case_id, kind = 'auto_reply', case = case_id, period = period})
  end
end
wake()
return {outcome, case_id, channel}
"""

# A case's hash (flat) and its first tweet ('' when either is missing).
CASE_WITH_FIRST_TWEET = """
local p, case_id = ARGV[1], ARGV[2]
local h = redis.call('HGETALL', p..'case:'..case_id)
local first = redis.call('HGET', p..'case:'..case_id, 'first_tweet')
return {h, first and redis.call('GET', p..'tweetdata:'..first) or ''}
"""

# Claim only if nobody holds the case: of two agents reacting at once exactly one wins.
CLAIM = """
local ck = KEYS[1]
if redis.call('EXISTS', ck) == 0 then return '' end
local holder = redis.call('HGET', ck, 'claimer') or ''
if holder ~= '' then return holder end
local status = redis.call('HGET', ck, 'status')
if status ~= 'resolved' then status = 'claimed' end
redis.call('HSET', ck, 'claimer', ARGV[1], 'status', status)
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[2])
local since = redis.call('HGET', ck, 'waiting_since') or ''
if status == 'claimed' and since ~= '' then redis.call('ZADD', KEYS[3], since, ARGV[2]) end
return ARGV[1]
"""

RELEASE = """
local ck = KEYS[1]
if redis.call('HGET', ck, 'claimer') ~= ARGV[1] then return 0 end
local status = redis.call('HGET', ck, 'status')
if status ~= 'resolved' then status = 'open' end
redis.call('HSET', ck, 'claimer', '', 'status', status)
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('SREM', KEYS[5], ARGV[2])
if status ~= 'resolved' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  redis.call('ZADD', KEYS[4], redis.call('HGET', ck, 'opened_at') or ARGV[3], ARGV[2])
end
return 1
"""

SET_STATUS = """
local ck = KEYS[1]
local want, by = ARGV[1], ARGV[2]
if redis.call('EXISTS', ck) == 0 then return 0 end
local status = redis.call('HGET', ck, 'status')
if want == 'resolved' then
  if status == 'resolved' then return 0 end
  redis.call('HSET', ck, 'status', 'resolved', 'resolved_by', by)
  -- A field, not an index: 20 bytes a case; [privacy] retention_days reads them once a day.
  redis.call('HSET', ck, 'resolved_at', ARGV[4])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[3])
  local holder = redis.call('HGET', ck, 'claimer') or ''
  if holder ~= '' then redis.call('SREM', ARGV[5]..'claims:'..holder, ARGV[3]) end
  return 1
end
if status ~= 'resolved' then return 0 end
local claimer = redis.call('HGET', ck, 'claimer') or ''
local since = redis.call('HGET', ck, 'waiting_since') or ''
if claimer ~= '' then
  want = 'claimed'
  if since ~= '' then redis.call('ZADD', KEYS[3], since, ARGV[3]) end
  redis.call('SADD', ARGV[5]..'claims:'..claimer, ARGV[3])
else
  want = 'open'
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  redis.call('ZADD', KEYS[4], redis.call('HGET', ck, 'opened_at') or ARGV[4], ARGV[3])
end
redis.call('HSET', ck, 'status', want, 'resolved_by', '')
redis.call('HDEL', ck, 'resolved_at')
return 1
"""

# Tweet ids are 64-bit numbers as strings: compare by length, then by text (Lua numbers are doubles).
FORWARD = """
local cur = redis.call('GET', KEYS[1])
local new = ARGV[1]
if cur and (#cur > #new or (#cur == #new and cur >= new)) then return 0 end
redis.call('SET', KEYS[1], new)
return 1
"""

# KEYS: the case, the submission's dedupe key. ARGV: prefix, case id, actor, actor is admin,
# target channel, topic ('' for none), when (epoch seconds), dedupe TTL.
MOVE = """
local ck, dk = KEYS[1], KEYS[2]
local p, case_id, actor, admin, channel, topic, moved_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('EXISTS', dk) == 1 then return {'done', ''} end
if redis.call('EXISTS', ck) == 0 then return {'gone', ''} end
local holder = redis.call('HGET', ck, 'claimer') or ''
if admin ~= '1' and holder ~= actor then return {'not_yours', holder} end
local old_channel = redis.call('HGET', ck, 'channel')
local old_ts = redis.call('HGET', ck, 'parent_ts') or ''
if old_ts == '' then return {'not_posted', ''} end
if old_channel == channel then return {'same', channel} end
-- A post or reply of the case still queued for the old thread would find no thread: wait for it.
for _, lane in ipairs({'post:'..old_channel, 'x:'..case_id, 'x'}) do  -- 'x': the one lane of old versions
  for _, raw in ipairs(redis.call('LRANGE', p..'lane:'..lane, 0, -1)) do
    if cjson.decode(raw)['case'] == case_id then return {'busy', lane} end
  end
end
local n = redis.call('HINCRBY', ck, 'moves', 1)
redis.call('HSET', ck, 'channel', channel, 'topic', topic, 'parent_ts', '')
redis.call('SET', dk, 1, 'EX', tonumber(ARGV[8]))
local lane = 'post:'..channel
""" + LANE_PUSH + """
push(lane, {id = 'parent:'..case_id..':move'..n, kind = 'parent', case = case_id})
push(lane, {id = 'movehistory:'..case_id..':'..n, kind = 'move_history', case = case_id, from_channel = old_channel,
      from_ts = old_ts, moved_at = moved_at, actor = actor, parent_job = 'parent:'..case_id..':move'..n})
wake()
return {'ok', old_channel}
"""

# KEYS: the case, the interaction's dedupe key. ARGV: prefix, case id, actor, target ('' for a
# take-over: the actor), actor is admin ('1'/'0').
HANDOVER = """
local ck, dk = KEYS[1], KEYS[2]
local p, case_id, actor, target, admin = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1'
local seen = redis.call('GET', dk)
if seen then return {'done', seen} end
if redis.call('EXISTS', ck) == 0 then return {'gone', ''} end
local holder = redis.call('HGET', ck, 'claimer') or ''
local take = target == ''
if take then target = actor end
if not admin and holder ~= actor then return {'not_yours', holder} end
if holder == target then return {'same', holder} end
local status = redis.call('HGET', ck, 'status')
if status ~= 'resolved' then status = 'claimed' end
redis.call('HSET', ck, 'claimer', target, 'status', status)
if status ~= 'resolved' then
  if holder ~= '' then redis.call('SREM', p..'claims:'..holder, case_id) end
  redis.call('SADD', p..'claims:'..target, case_id)
end
if holder == '' then  -- as a claim does: the case leaves the unclaimed reminders (bridge/intake/clock.py)
  redis.call('ZREM', p..'unclaimed', case_id)
  redis.call('ZREM', p..'queue', case_id)
  local since = redis.call('HGET', ck, 'waiting_since') or ''
  if status == 'claimed' and since ~= '' then redis.call('ZADD', p..'waiting', since, case_id) end
end
redis.call('SET', dk, holder, 'EX', tonumber(ARGV[6]))
local text
if take then
  text = '<@'..actor..'> took over this case'
  if holder ~= '' then text = text..' from <@'..holder..'>' end
else
  text = '<@'..actor..'> handed this case to <@'..target..'>'
  if holder ~= '' and holder ~= actor then text = text..' (it was with <@'..holder..'>)' end
end
local key = string.sub(dk, #p + 1)
""" + LANE_PUSH + """
local channel = redis.call('HGET', ck, 'channel')
push('post:'..channel, {id = 'notice:'..key, kind = 'notice', case = case_id, text = text})
push('slack:'..channel, {id = 'update:'..key, kind = 'update', case = case_id})
wake()
return {'ok', holder}
"""


# Closed periods that have ended: one summary job per channel that got cases, marked so that a
# period seen again (a late ingest re-adds it) queues none twice.
TAKE_SUMMARIES = "local p, now = ARGV[1], ARGV[2]\n" + LANE_PUSH + """
local taken = 0
for _, period in ipairs(redis.call('ZRANGEBYSCORE', p..'closed', '-inf', now, 'LIMIT', 0, 20)) do
  for _, channel in ipairs(redis.call('SMEMBERS', p..'closed:'..period)) do
    if redis.call('SET', p..'summarized:'..period..':'..channel, '1', 'NX', 'EX', ARGV[3]) then
      push('post:'..channel, {id = 'summary:'..period..':'..channel, kind = 'summary', period = period,
        channel = channel})
      taken = taken + 1
    end
  end
  redis.call('ZREM', p..'closed', period)
end
if taken > 0 then wake() end
return taken
"""

# Cases waiting since before a cut-off leave their index and get one reminder job each; with no
# cut-off (that reminder is off) the index is only emptied up to ``now``.
TAKE_REMINDERS = "local p, now = ARGV[1], ARGV[2]\n" + LANE_PUSH + """
local taken = 0
local function take(index, cut, status, kind)
  local due = redis.call('ZRANGEBYSCORE', p..index, '-inf', cut ~= '' and cut or now, 'WITHSCORES', 'LIMIT', 0, 100)
  for i = 1, #due, 2 do
    local id, since = due[i], due[i + 1]
    redis.call('ZREM', p..index, id)
    local ck = p..'case:'..id
    if cut ~= '' and redis.call('HGET', ck, 'status') == status then
      -- One reminder per wait: the job is named by when the wait began (a DM starts a wait without
      -- changing the latest customer tweet).
      local tweet = redis.call('HGET', ck, 'latest_customer_tweet')
      push('post:'..redis.call('HGET', ck, 'channel'), {id = kind..':'..id..':'..since, kind = kind, case = id,
        tweet = tweet})
      taken = taken + 1
    end
  end
end
take('unclaimed', ARGV[3], 'open', 'remind_unclaimed')
take('waiting', ARGV[4], 'claimed', 'remind_waiting')
if taken > 0 then wake() end
return taken
"""


ASK_TTL = 30 * 24 * 3600  # X keeps DM events for 30 days; an ask older than that is forgotten

INGEST_DM = """
local p, id, tweet_json, sender = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local channel, topic, customer, since = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local day, hour = ARGV[9], ARGV[10]
""" + BUCKETS + FIGURES + """
local existing = redis.call('HGET', bucket('tweets', id), id)
if existing then
  return {'duplicate', existing, redis.call('HGET', p..'case:'..existing, 'channel') or ''}
end
local function unresolved(case_id)
  if not case_id then return false end
  local status = redis.call('HGET', p..'case:'..case_id, 'status')
  if status and status ~= 'resolved' then return case_id end
  return false
end
local case_id = unresolved(redis.call('GET', p..'dmask:'..sender))
redis.call('DEL', p..'dmask:'..sender)
if not case_id then case_id = unresolved(redis.call('GET', p..'dmcase:'..sender)) end
local outcome = 'new'
if case_id then
  local ck = p..'case:'..case_id
  channel = redis.call('HGET', ck, 'channel')
  redis.call('HSET', ck, 'dm_peer', sender, 'dm_latest', id,
    'dm_tweet_mark', redis.call('HGET', ck, 'latest_customer_tweet'))
  redis.call('HINCRBY', ck, 'tweet_count', 1)
  -- The customer waits for an answer again (reminders, as bridge/storage/store.py keeps them for tweets).
  redis.call('HSET', ck, 'waiting_since', since)
  if (redis.call('HGET', ck, 'claimer') or '') ~= '' then redis.call('ZADD', p..'waiting', since, case_id) end
  outcome = 'joined'
else
  case_id = tostring(redis.call('INCR', p..'seq:case'))
  local who = cjson.decode(customer)
  redis.call('HSET', p..'case:'..case_id, 'channel', channel, 'topic', topic, 'first_tweet', id,
    'latest_customer_tweet', id, 'customer_id', who['id'], 'customer_handle', who['username'],
    'customer_name', who['name'], 'status', 'open', 'claimer', '',
    'resolved_by', '', 'parent_ts', '', 'answerable', '1', 'tweet_count', 1,
    'kind', 'dm', 'dm_peer', sender, 'dm_latest', id, 'dm_tweet_mark', id, 'after_hours', '0',
    'waiting_since', since, 'opened_at', since)
  redis.call('ZADD', p..'unclaimed', since, case_id)
  add_case_of_customer(sender, case_id)  -- the customer's history, as for tweets
  case_opened(topic, day, hour)
  redis.call('ZADD', p..'queue', since, case_id)
end
redis.call('SET', p..'dmcase:'..sender, case_id)
redis.call('HSET', bucket('tweets', id), id, case_id)
redis.call('SET', p..'tweetdata:'..id, tweet_json)
""" + LANE_PUSH + """if outcome == 'new' then
  push('post:'..channel, {id = 'parent:'..case_id, kind = 'parent', case = case_id})
else
  push('post:'..channel, {id = 'followup:'..id, kind = 'followup', case = case_id, tweet = id})
end
wake()
return {outcome, case_id, channel}
"""
