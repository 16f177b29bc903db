"""The Lua scripts behind :class:`bridge.storage.store.Store`: each change that must not be half-done.

Redis runs a script atomically (https://redis.io/docs/latest/develop/interactive/programmability/eval-intro/),
so a tweet is never stored without the jobs that show it, and two agents claiming at once see one winner.
"""

INGEST = """
local p, tid, tweet_json, conv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local channel, topic, customer, answerable = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local n_refs = tonumber(ARGV[9])
-- After the referenced ids: the time the customer waits from, and the closed period it came in ('' open).
local since, period, reply_key = ARGV[10 + n_refs], ARGV[11 + n_refs], ARGV[12 + n_refs]
local existing = redis.call('GET', p..'tweet:'..tid)
if existing then
  return {'duplicate', existing, redis.call('HGET', p..'case:'..existing, 'channel') or ''}
end
local case_id = false
for i = 1, n_refs do
  case_id = redis.call('GET', p..'tweet:'..ARGV[9 + i])
  if case_id then break end
end
if not case_id and conv ~= '' then case_id = redis.call('GET', p..'conv:'..conv) end
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
    outcome = 'reopened'
  end
  redis.call('HSET', ck, 'waiting_since', since)
  if (redis.call('HGET', ck, 'claimer') or '') ~= '' then
    redis.call('ZADD', p..'waiting', since, case_id)
  elseif outcome == 'reopened' then
    redis.call('ZADD', p..'unclaimed', since, case_id)
  end
else
  case_id = tostring(redis.call('INCR', p..'seq:case'))
  redis.call('HSET', p..'case:'..case_id, 'channel', channel, 'topic', topic, 'first_tweet', tid,
    'latest_customer_tweet', tid, 'customer', customer, 'status', 'open', 'claimer', '',
    'resolved_by', '', 'parent_ts', '', 'answerable', answerable, 'tweet_count', 1,
    'after_hours', period ~= '' and '1' or '0', 'waiting_since', since)
  redis.call('ZADD', p..'unclaimed', since, case_id)
  -- The customer's cases, oldest first: a new case's parent lists the earlier ones.
  redis.call('RPUSH', p..'customer:'..cjson.decode(customer)['id'], case_id)
end
redis.call('SET', p..'tweet:'..tid, case_id)
redis.call('SET', p..'tweetdata:'..tid, tweet_json)
if conv ~= '' then redis.call('SET', p..'conv:'..conv, case_id, 'NX') end
-- The jobs that show it in Slack are pushed in the same step: a tweet is never stored without them.
local function push(lane, job)
  redis.call('RPUSH', p..'lane:'..lane, cjson.encode(job))
  redis.call('SADD', p..'lanes', lane)
end
local post_lane = 'post:'..channel
if outcome == 'new' then
  push(post_lane, {id = 'parent:'..case_id, kind = 'parent', case = case_id})
else
  push(post_lane, {id = 'followup:'..tid, kind = 'followup', case = case_id, tweet = tid})
end
if outcome == 'reopened' then
  push(post_lane, {id = 'reopened:'..tid, kind = 'reopened', case = case_id, tweet = tid})
  push('slack', {id = 'update:reopened:'..tid, kind = 'update', case = case_id})
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
    push('x', {id = 'autoreply:'..case_id, kind = 'auto_reply', case = case_id, period = period})
  end
end
redis.call('LPUSH', p..'wake', '1')
redis.call('LTRIM', p..'wake', 0, 63)
return {outcome, case_id, channel}
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
if status ~= 'resolved' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2]) end
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
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
  return 1
end
if status ~= 'resolved' then return 0 end
local claimer = redis.call('HGET', ck, 'claimer') or ''
local since = redis.call('HGET', ck, 'waiting_since') or ''
if claimer ~= '' then
  want = 'claimed'
  if since ~= '' then redis.call('ZADD', KEYS[3], since, ARGV[3]) end
else
  want = 'open'
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
redis.call('HSET', ck, 'status', want, 'resolved_by', '')
return 1
"""

# The brand answered the customer's latest tweet: nobody waits any more (unless they wrote again).
ANSWERED = """
if redis.call('HGET', KEYS[1], 'latest_customer_tweet') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'waiting_since', '')
redis.call('ZREM', KEYS[2], ARGV[1])
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
