-- The Redis transport's key schema and every script it runs (loaded by redis.py).
--
-- Every key belongs to one app (a namespace: the app's name, A) and starts with its prefix
--   P = qtasks:<A>:       where <A> and <Q> below are the names with % { } : percent-encoded
--                         (%25 %7B %7D %3A): no brace ends a hash tag early, and the first
--                         ':' after "qtasks:" ends the app's name, so no two apps' keys meet
-- Keys of one queue Q of app A share the hash tag {<A>:<Q>}, so each script touches one
-- cluster slot (one per app and queue). S = P{<A>:<Q>}: is the queue's key stem:
--   S ready        ZSET, all scores 0, members "<8 hex: 2^31-1-priority><12 hex: eta ms><id>":
--                  lexical order = higher priority, then earlier eta, then FIFO (UUIDv7 ids)
--   S delayed      ZSET, the same members scored by eta (seconds): not due yet
--   S leased       ZSET, task ids scored by lease expiry (unix seconds)
--   S wake         LIST, one token: idle workers BLPOP it; pushed when work arrives and no
--                  idle worker took it
--   S idle         ZSET, the workers waiting for this queue now, "<worker id>|<lease
--                  seconds>" scored by when their wait ends (unix seconds): a claim that
--                  found nothing adds its worker, the next claim takes it out, and an
--                  enqueue hands a new ready task to one of them (kill -9 while waiting:
--                  the entry is past its score within a second, and ignored)
--   S inbox:<w>    LIST, tasks handed to idle worker <w> at enqueue, already leased to it:
--                  "<attempt>\n<workers JSON>\n<id>\n<body>" each; the worker BLPOPs it
--                  (the wake-up carries the task: no claim round trip), its next claim
--                  takes the rest; EXPIREs a minute after the last hand-over (a dead
--                  worker's tasks come back by lease expiry, as any leased task)
--   S fin:<s>      ZSET per final status s, task ids scored by when their record expires
--                  (+inf when kept): counts of finished tasks still stored
--   S t:<id>       HASH, the task: s status, q queue, b body, a attempt, w worker,
--                  ws workers (JSON),
--                  k ready member, p priority, n name, c created, u updated, st started,
--                  f finished, r result, tb traceback, et error type, rp retry parent,
--                  rc retry child, cr cancel reason, cq cancel requested (reason; while
--                  running), am '1' if at most once (acks_early), uk the unique key it
--                  took (S u:<uk>); EXPIREs once final (the result TTL; the dead-letter
--                  TTL for 'error')
--   S done:<id>    pub/sub channel: the final status, published when the task ends
--                  (SPUBLISH on a cluster: a shard channel lives in its slot like a key)
--   S ids          ZSET, all scores 0, the id of every task stored in the queue: lexical
--                  order = creation order (UUIDv7), so list reads it newest first from any
--                  id on. An id joins it at enqueue and leaves it when purge (or dead purge)
--                  forgets the task, or when list finds its record expired
--   S u:<key>      STRING, unique key <key> of the queue (core/unique.py; as given, any
--                  text: it follows the tag's closing brace, so it cannot end the tag):
--                  "<holder id>|<held until>", the task that took it and its unique_until
--                  as sent. Set by the enqueue that takes it (no expiry), handed to a
--                  retry's new attempt by complete; once its holder is final it is deleted
--                  if its hold is over, else PEXPIREATs 10 s after it (never while
--                  its holder waits or runs: a requeued dead letter PERSISTs it)
--   S m:<minute>   HASH, what happened in the queue in that minute (unix time // 60):
--                  e enqueued (counted by the enqueue script), s succeeded, f failed,
--                  r retried, c cancelled (added by heartbeats, redis_inspect.py); EXPIREs
--                  two hours after the minute ends
-- The workers of app A, in the app's own slot (hash tag {<A>}, which no queue's tag equals:
-- a queue's holds a ':'). W = P{<A>}: is their key stem:
--   W workers      ZSET, worker ids scored by their last heartbeat (the last_seen it sent)
--   W w:<id>       HASH, i the WorkerInfo as JSON (as last sent), x '1' once the worker said
--                  goodbye (worker_stopped); EXPIREs an hour after its last heartbeat
-- Outside any queue's slot:
--   P loc:<id>     STRING, the key stem S of task <id>'s queue (how get(id) finds the record)
--   P queues       SET, the key stems of every queue of the app (how maintenance finds them)
-- One server (CLUSTER false): the scripts write these too, so an enqueue is one round trip,
-- and a finished task's pointer expires 1 s after its record. On a cluster (CLUSTER true)
-- they live in other slots, out of a script's reach: redis.py writes them before the
-- script runs, and deletes the pointers of records purge reports gone.
-- KEYS[1] of every script is S (W for beat, stopped and workers); the prelude takes P back
-- from it (all before the tag's brace: escaped names hold none). redis.py puts
-- "local CLUSTER = true|false" before it.
-- Outside every app (no second ':', so no app's key):
--   qtasks:upgrade-lock  STRING, a token, held (PX, renewed) while redis_upgrade.py moves
--                  the keys of the layout before namespaces (qtasks:{Q}:..., qtasks:loc:<id>,
--                  qtasks:queues; described there) into the first connecting app's namespace

-- name: prelude
local stem = KEYS[1]
local ready, delayed, leased, wake = stem .. 'ready', stem .. 'delayed', stem .. 'leased', stem .. 'wake'
local idle = stem .. 'idle'
local function inbox(worker) return stem .. 'inbox:' .. worker end
local function rec(id) return stem .. 't:' .. id end
local P = string.gsub(stem, '{.*}:$', '')
local loc = P .. 'loc:'
-- One token at most: a push when the list is empty (a worker took the last, or none came).
local function wake_one() if redis.call('EXISTS', wake) == 0 then redis.call('LPUSH', wake, '1') end end
-- Unique key `key` of the queue (S u:<key>, core/unique.py): its name, and its holder's id
-- and held until (as stored) if it is set. (Taking and handing a key over are in the
-- scripts that do them: the prelude runs on every call of every script.)
local function hold(key)
  local name = stem .. 'u:' .. key
  local value = redis.call('GET', name)
  if not value then return name end
  local holder, until_ = string.match(value, '^([^|]*)|(.*)$')
  return name, holder, until_
end
-- uk: the task's unique key (its field uk; false: none) when the caller read it, else nil.
local function finished(id, status, now, ttl, uk)
  local key = rec(id)
  if uk == nil then uk = redis.call('HGET', key, 'uk') end
  local name, holder, until_
  if uk then name, holder, until_ = hold(uk) end
  if holder == id then  -- its unique key goes once the hold is over: at once if it is, else
    -- 10 s after it (other hosts' clocks); a hold from year 33658 on stays, as held
    until_ = tonumber(until_)
    if until_ <= tonumber(now) then
      redis.call('DEL', name)
    elseif until_ < 1e12 then
      redis.call('PEXPIREAT', name, math.ceil(until_ * 1000) + 10000)
    end
  end
  local expire_at = '+inf'
  if ttl ~= '' then
    redis.call('PEXPIRE', key, math.ceil(tonumber(ttl) * 1000))
    expire_at = tonumber(now) + tonumber(ttl)
  end
  redis.call('ZADD', stem .. 'fin:' .. status, expire_at, id)
  if ttl ~= '' and not CLUSTER then
    redis.call('PEXPIRE', loc .. id, math.ceil(tonumber(ttl) * 1000) + 1000)
  end
  redis.call(CLUSTER and 'SPUBLISH' or 'PUBLISH', stem .. 'done:' .. id, status)
end
local function ttl_for(status, rttl, dttl) if status == 'error' then return dttl end return rttl end
local function cancel_held(id, reason, now, ttl)  -- a claimed task cancel() asked to stop
  local key = rec(id)
  redis.call('HSET', key, 's', 'cancel', 'cr', reason, 'f', now, 'u', now)
  redis.call('HDEL', key, 'cq')
  redis.call('ZREM', leased, id)
  finished(id, 'cancel', now, ttl)
end
-- The step of a claim for one task: leased to worker until lease_until; attempt, workers.
local function lease_to(key, id, now, lease_until, worker)
  local attempt = redis.call('HINCRBY', key, 'a', 1)
  local workers = cjson.decode(redis.call('HGET', key, 'ws') or '[]')
  table.insert(workers, worker)
  local ws = cjson.encode(workers)
  redis.call('HSET', key, 's', 'process', 'w', worker, 'ws', ws, 'st', now, 'u', now)
  redis.call('ZADD', leased, lease_until, id)
  return attempt, ws
end
-- A new ready task handed to a waiting worker (S idle, S inbox:<w>); false if none waits.
local function hand_over(key, id, body, now)
  local waiting = redis.call('ZRANGEBYSCORE', idle, now, '+inf', 'LIMIT', 0, 1)
  if #waiting == 0 then return false end
  redis.call('ZREM', idle, waiting[1])
  local worker, lease = string.match(waiting[1], '^(.*)|([^|]*)$')
  local attempt, ws = lease_to(key, id, now, tonumber(now) + tonumber(lease), worker)
  local box = inbox(worker)
  redis.call('RPUSH', box, attempt .. '\n' .. ws .. '\n' .. id .. '\n' .. body)
  redis.call('PEXPIRE', box, 60000)
  return true
end
-- A task worker holds goes back to ready, the attempt not counted (or is cancelled, if
-- cancel() asked to stop it); true when it went back.
local function release_one(id, now, worker, ttl)
  local key = rec(id)
  local held = redis.call('HGET', key, 's') == 'process' and redis.call('HGET', key, 'w') == worker
  local reason = held and redis.call('HGET', key, 'cq')
  if reason then
    cancel_held(id, reason, now, ttl)
  elseif held then
    local workers = cjson.decode(redis.call('HGET', key, 'ws') or '[]')
    table.remove(workers)  -- the release does not count as an attempt
    local ws = '[]'  -- cjson writes an empty table as {}
    if #workers > 0 then ws = cjson.encode(workers) end
    redis.call('HSET', key, 's', 'new', 'u', now, 'ws', ws)
    redis.call('HINCRBY', key, 'a', -1)
    redis.call('ZREM', leased, id)
    redis.call('ZADD', ready, 0, redis.call('HGET', key, 'k'))
    return true
  end
  return false
end
-- The caller adds id to S ids (the enqueue script: one ZADD for all its tasks). True when
-- the task joined S ready (the caller wakes a worker then).
local function enqueue_one(now, queue, id, member, eta, body, priority, name, created, parent)
  local key = rec(id)
  if not CLUSTER then redis.call('SET', loc .. id, stem) end
  redis.call('HSET', key, 's', 'new', 'q', queue, 'b', body, 'a', 0, 'k', member,
             'p', priority, 'n', name, 'c', created, 'u', now)
  if parent ~= '' then redis.call('HSET', key, 'rp', parent) end
  if tonumber(eta) > tonumber(now) then
    redis.call('ZADD', delayed, eta, member)
    return false
  end
  if hand_over(key, id, body, now) then return false end
  redis.call('ZADD', ready, 0, member)
  return true
end
-- What was handed to worker (its entry in S idle: entry) since its last claim, still its
-- own; it leaves S idle. Appended to out as a claim returns tasks.
local function take_handed(worker, entry, out)
  redis.call('ZREM', idle, entry)
  local box = inbox(worker)
  local handed = redis.call('LRANGE', box, 0, -1)
  if #handed == 0 then return end
  redis.call('DEL', box)
  for _, item in ipairs(handed) do  -- (an interrupt_wait's 'stop' has no task)
    local attempt, ws, id, body = string.match(item, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n(.*)$')
    local key = id and rec(id)
    if key and redis.call('HGET', key, 's') == 'process' and redis.call('HGET', key, 'w') == worker then
      table.insert(out, id); table.insert(out, body); table.insert(out, attempt)
      table.insert(out, ws)
    end
  end
end
-- entry: the worker's S idle member ('' for none); idle_until: when its wait would end, if
-- it waits when nothing is found ('' : it does not).
local function claim(now, limit, lease_until, worker, entry, idle_until)
  local out = {}
  if entry ~= '' then take_handed(worker, entry, out) end
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)
  for _, member in ipairs(due) do
    redis.call('ZADD', ready, 0, member)
    redis.call('ZREM', delayed, member)
  end
  limit = limit - #out / 4
  if limit > 0 then
    local popped = redis.call('ZPOPMIN', ready, limit)
    for i = 1, #popped, 2 do
      local id = string.sub(popped[i], -36)
      local key = rec(id)
      if redis.call('HGET', key, 's') == 'new' then
        local attempt, ws = lease_to(key, id, now, lease_until, worker)
        table.insert(out, id); table.insert(out, redis.call('HGET', key, 'b'))
        table.insert(out, attempt); table.insert(out, ws)
      end
    end
  end
  if #out == 0 and idle_until ~= '' then  -- it waits: enqueues hand it their tasks
    redis.call('ZREMRANGEBYSCORE', idle, '-inf', '(' .. now)
    redis.call('ZADD', idle, idle_until, entry)
  end
  if redis.call('ZCARD', ready) > 0 then wake_one() end  -- let the next idle worker in
  return out
end

-- name: enqueue
-- ARGV: now, queue, register ('1': add S to P queues; redis.py sends it on a broker's first
-- enqueue to a queue and every few seconds after, not with every task; 'u1' or 'u0' when
-- a task of the call has a unique key: then 4 more fields follow each task's 8), then per
-- task: id, member, eta, body, priority, name, created, parent [, unique key ('' none),
-- held until, after, while running ('1' or '0')]. Returns id, holder of each task not
-- stored because its key was held (by a task of this call too: they go in order).

-- take_key, before task id is stored: the id of the task holding key (id is not stored
-- then), or false when id took it. Held while the holder waits or runs (if while_running
-- is '1'), or while its hold ends after `after` ('0': now).
local function take_key(id, key, held_until, after, while_running, now)
  local name, holder, until_ = hold(key)
  if holder and holder ~= id then  -- (id itself: the same enqueue sent again)
    if while_running == '1' then
      local status = redis.call('HGET', rec(holder), 's')
      if status == 'new' or status == 'process' then return holder end
    end
    local at = tonumber(after)
    if at == 0 then at = tonumber(now) end
    if tonumber(until_) > at then return holder end
  end
  redis.call('SET', name, id .. '|' .. held_until)  -- (an expiry set before is dropped)
  redis.call('HSET', rec(id), 'uk', key)
  return false
end
local now, queue, woke, index, held = ARGV[1], ARGV[2], false, {}, {}
local keyed = #ARGV[3] == 2
local width = keyed and 12 or 8
for i = 4, #ARGV, width do
  local holder = keyed and ARGV[i+8] ~= '' and
                 take_key(ARGV[i], ARGV[i+8], ARGV[i+9], ARGV[i+10], ARGV[i+11], now)
  if holder then
    held[#held + 1] = ARGV[i]; held[#held + 1] = holder
  else
    if enqueue_one(now, queue, ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4],
                   ARGV[i+5], ARGV[i+6], ARGV[i+7]) then woke = true end
    index[#index + 1] = 0; index[#index + 1] = ARGV[i]
    if #index >= 2000 then redis.call('ZADD', stem .. 'ids', unpack(index)); index = {} end
  end
end
if #index > 0 then redis.call('ZADD', stem .. 'ids', unpack(index)) end  -- (unpack: < 8000)
local register = ARGV[3] == '1' or ARGV[3] == 'u1'
if register and not CLUSTER then redis.call('SADD', P .. 'queues', stem) end
if woke then wake_one() end
local n, minute = (#ARGV - 3) / width - #held / 2, math.floor(tonumber(now) / 60)
local tally = stem .. 'm:' .. minute
if n > 0 and redis.call('HINCRBY', tally, 'e', n) == n then  -- the minute's first: expiry
  redis.call('EXPIREAT', tally, (minute + 121) * 60)
end
return held

-- name: claim
-- ARGV: now, limit, lease_until, worker, idle entry, idle until (see claim above). Returns
-- id, body, attempt, workers per task.
return claim(ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6])

-- name: complete
-- ARGV: now, result ttl, dead-letter ttl ('' keeps), count, then per outcome: id, status,
-- result, traceback, error type, finished, cancel reason, has child ('0', '1': then the
-- child's 8 enqueue fields follow, or '2': those and the child's unique key, which it
-- takes over if the outcome's task holds it), then claim: limit, lease_until, worker, idle
-- entry (0: no claim).
local now, rttl, dttl, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local i = 5
for _ = 1, count do
  local id, status, child = ARGV[i], ARGV[i+1], ARGV[i+7]
  local key = rec(id)
  local fields = redis.call('HMGET', key, 's', 'uk')
  local current = fields[1]
  if current == 'new' or current == 'process' then
    redis.call('HSET', key, 's', status, 'f', ARGV[i+5], 'u', now)
    if ARGV[i+2] ~= '' then redis.call('HSET', key, 'r', ARGV[i+2]) end
    if ARGV[i+3] ~= '' then redis.call('HSET', key, 'tb', ARGV[i+3]) end
    if ARGV[i+4] ~= '' then redis.call('HSET', key, 'et', ARGV[i+4]) end
    if ARGV[i+6] ~= '' then redis.call('HSET', key, 'cr', ARGV[i+6]) end
    redis.call('ZREM', leased, id)
    if child ~= '0' then
      local c = i + 8
      redis.call('HSET', key, 'rc', ARGV[c])
      redis.call('ZADD', stem .. 'ids', 0, ARGV[c])
      local queue = redis.call('HGET', key, 'q')
      if enqueue_one(now, queue, ARGV[c], ARGV[c+1], ARGV[c+2], ARGV[c+3], ARGV[c+4],
                     ARGV[c+5], ARGV[c+6], ARGV[c+7]) then
        wake_one()
      end
      if child == '2' then  -- it takes the key over if id holds it (before finished lets go)
        local name, holder, until_ = hold(ARGV[c+8])
        if holder == id then
          redis.call('SET', name, ARGV[c] .. '|' .. until_)
          redis.call('HSET', rec(ARGV[c]), 'uk', ARGV[c+8])
        end
      end
    end
    finished(id, status, now, ttl_for(status, rttl, dttl), fields[2])
  end
  if child == '1' then i = i + 16 elseif child == '2' then i = i + 17 else i = i + 8 end
end
return claim(now, tonumber(ARGV[i]), ARGV[i+1], ARGV[i+2], ARGV[i+3], '')

-- name: extend
-- ARGV: lease_until, worker, ids... Returns id, reason of those cancel() asked to stop.
local out = {}
for i = 3, #ARGV do
  local key = rec(ARGV[i])
  if redis.call('HGET', key, 's') == 'process' and redis.call('HGET', key, 'w') == ARGV[2] then
    redis.call('ZADD', leased, 'XX', ARGV[1], ARGV[i])
    local reason = redis.call('HGET', key, 'cq')
    if reason then table.insert(out, ARGV[i]); table.insert(out, reason) end
  end
end
return out

-- name: once
-- ARGV: worker, ids...: these claimed tasks run at most once (acks_early).
for i = 2, #ARGV do
  local key = rec(ARGV[i])
  if redis.call('HGET', key, 's') == 'process' and redis.call('HGET', key, 'w') == ARGV[1] then
    redis.call('HSET', key, 'am', '1')
  end
end
return 1

-- name: release
-- ARGV: now, worker, result ttl, ids...: back to ready at once, the attempt not counted
-- (or cancelled, if cancel() asked to stop it).
local woke = false
for i = 4, #ARGV do
  if release_one(ARGV[i], ARGV[1], ARGV[2], ARGV[3]) then woke = true end
end
if woke then wake_one() end
return 1

-- name: unidle
-- ARGV: now, worker, idle entry, result ttl: a worker that stops waiting for good (it
-- shuts down) leaves S idle, and what was handed to it meanwhile is released.
local handed, woke = {}, false
take_handed(ARGV[2], ARGV[3], handed)
for i = 1, #handed, 4 do
  if release_one(handed[i], ARGV[1], ARGV[2], ARGV[4]) then woke = true end
end
if woke then wake_one() end
return #handed / 4

-- name: recover
-- ARGV: now, max_attempts, result ttl, dead-letter ttl ('' keeps), lost message, lost error
-- type, lost message of an at-most-once task.
local now, max_attempts = ARGV[1], tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', leased, '-inf', '(' .. now, 'LIMIT', 0, 1000)
local woke = false
for _, id in ipairs(expired) do
  local key = rec(id)
  redis.call('ZREM', leased, id)
  local reason = redis.call('HGET', key, 'cq')
  local once = redis.call('HGET', key, 'am') == '1'
  if redis.call('HGET', key, 's') ~= 'process' then
    -- finished meanwhile: nothing to recover
  elseif reason then
    cancel_held(id, reason, now, ARGV[3])
  elseif once or tonumber(redis.call('HGET', key, 'a')) >= max_attempts then
    local message = ARGV[5]
    if once then message = ARGV[7] end
    redis.call('HSET', key, 's', 'error', 'tb', message, 'et', ARGV[6], 'f', now, 'u', now)
    finished(id, 'error', now, ARGV[4])
  else
    redis.call('HSET', key, 's', 'new', 'u', now)
    redis.call('ZADD', ready, 0, redis.call('HGET', key, 'k'))
    woke = true
  end
end
if woke then wake_one() end
return #expired

-- name: cancel
-- ARGV: id, reason, now, result ttl. Returns what it found and did (a CancelState value).
local id, reason, now = ARGV[1], ARGV[2], ARGV[3]
local key = rec(id)
local status = redis.call('HGET', key, 's')
if not status then return 'unknown' end
if status == 'new' then
  local member = redis.call('HGET', key, 'k')
  redis.call('ZREM', ready, member)
  redis.call('ZREM', delayed, member)
  redis.call('HSET', key, 's', 'cancel', 'cr', reason, 'f', now, 'u', now)
  finished(id, 'cancel', now, ARGV[4])
  return 'cancelled'
end
if status == 'process' then
  redis.call('HSET', key, 'cq', reason, 'u', now)
  return 'requested'
end
return 'finished'

-- name: dead
-- ARGV: now, op (list | requeue | purge), limit (0: all), task name ('' any), then the ids
-- to consider (none: every dead letter of the queue). A dead letter is an 'error' record
-- still stored (S fin:error scores are expiry times, so newest failures come first).
-- list returns {id, HGETALL} pairs; requeue and purge return the ids they acted on.
local now, op, limit, name = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local fin = stem .. 'fin:error'
local ids = {}
if #ARGV > 4 then
  for i = 5, #ARGV do table.insert(ids, ARGV[i]) end
else
  ids = redis.call('ZREVRANGEBYSCORE', fin, '+inf', '(' .. now)
end
local out, woke = {}, false
for _, id in ipairs(ids) do
  local key = rec(id)
  if redis.call('ZSCORE', fin, id) and redis.call('HGET', key, 's') == 'error'
     and (name == '' or redis.call('HGET', key, 'n') == name) then
    if op == 'list' then
      table.insert(out, {id, redis.call('HGETALL', key)})
    elseif op == 'requeue' then  -- same id and message, attempts from zero, due now
      redis.call('ZREM', fin, id)
      redis.call('HDEL', key, 'st', 'f', 'r', 'tb', 'et', 'w', 'ws', 'am', 'cq')
      redis.call('HSET', key, 's', 'new', 'a', 0, 'u', now)
      redis.call('PERSIST', key)
      if not CLUSTER then redis.call('PERSIST', loc .. id) end
      local uk = redis.call('HGET', key, 'uk')  -- waiting again: a key it still holds stays
      if uk then
        local name, holder = hold(uk)
        if holder == id then redis.call('PERSIST', name) end
      end
      redis.call('ZADD', ready, 0, redis.call('HGET', key, 'k'))
      woke = true
      table.insert(out, id)
    else
      redis.call('ZREM', fin, id)
      redis.call('ZREM', stem .. 'ids', id)
      redis.call('DEL', key)
      if not CLUSTER then redis.call('DEL', loc .. id) end
      table.insert(out, id)
    end
    if limit > 0 and #out >= limit then break end
  end
end
if woke then wake_one() end
return out

-- name: counts
-- ARGV: now. Returns status, count pairs.
local out = {'new', redis.call('ZCARD', ready) + redis.call('ZCARD', delayed),
             'process', redis.call('ZCARD', leased)}
for _, status in ipairs({'success', 'error', 'cancel', 'retry'}) do
  table.insert(out, status)
  table.insert(out, redis.call('ZCOUNT', stem .. 'fin:' .. status, '(' .. ARGV[1], '+inf'))
end
return out

-- name: purge
-- ARGV: now, limit. Forget up to limit finished tasks whose records Redis has expired;
-- returns their ids (the caller deletes their pointers).
local out, limit = {}, tonumber(ARGV[2])
for _, status in ipairs({'success', 'error', 'cancel', 'retry'}) do
  local fin = stem .. 'fin:' .. status
  local ids = redis.call('ZRANGEBYSCORE', fin, '-inf', ARGV[1], 'LIMIT', 0, limit - #out)
  if #ids > 0 then
    redis.call('ZREM', fin, unpack(ids))
    redis.call('ZREM', stem .. 'ids', unpack(ids))
  end
  for _, id in ipairs(ids) do table.insert(out, id) end
  if #out >= limit then break end
end
return out

-- name: list
-- ARGV: before ('' none), limit, budget, most candidates, task name ('' any), then the
-- statuses wanted (none: any). Up to limit tasks older than before, newest first: the id
-- last looked at ('' when the queue holds no more), then {id, HGETALL} per task found.
-- A reply may stop short of limit with an id: budget ids were looked at, call again from
-- it. When every status wanted has few tasks (their sets hold at most "most candidates"
-- ids in all), those are sorted here instead (a rare status among many kept results).
-- Ids compare as strings: canonical UUIDs, so any collation orders them as bytes do.
local before, limit, budget, most, name = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
                                          tonumber(ARGV[4]), ARGV[5]
local index = stem .. 'ids'
local wanted, sources = {}, {}
for i = 6, #ARGV do
  if not wanted[ARGV[i]] then
    wanted[ARGV[i]] = true
    if ARGV[i] == 'new' then
      table.insert(sources, ready); table.insert(sources, delayed)  -- members end with the id
    elseif ARGV[i] == 'process' then
      table.insert(sources, leased)
    else
      table.insert(sources, stem .. 'fin:' .. ARGV[i])
    end
  end
end
local out, found = {''}, 0
local function look(id)  -- true if the task is listed
  local key = rec(id)
  local fields = redis.call('HMGET', key, 's', 'n')
  if not fields[1] then  -- its record expired: forget it here too
    redis.call('ZREM', index, id)
    return false
  end
  if (#sources == 0 or wanted[fields[1]]) and (name == '' or fields[2] == name) then
    table.insert(out, {id, redis.call('HGETALL', key)})
    found = found + 1
    return true
  end
  return false
end
if #sources > 0 then
  local total = 0
  for _, set in ipairs(sources) do total = total + redis.call('ZCARD', set) end
  if total <= most then
    local picked, seen = {}, {}
    for _, set in ipairs(sources) do
      for _, member in ipairs(redis.call('ZRANGE', set, 0, -1)) do
        local id = string.sub(member, -36)
        if not seen[id] and (before == '' or id < before) then
          seen[id] = true
          table.insert(picked, id)
        end
      end
    end
    table.sort(picked, function(a, b) return a > b end)
    for _, id in ipairs(picked) do
      if look(id) and found >= limit then break end
    end
    return out
  end
end
local cursor, looked = '+', 0
if before ~= '' then cursor = '(' .. before end
while found < limit and looked < budget do
  local want = math.min(budget - looked, 200)
  local batch = redis.call('ZREVRANGEBYLEX', index, cursor, '-', 'LIMIT', 0, want)
  for _, id in ipairs(batch) do
    looked = looked + 1
    out[1] = id
    if look(id) and found >= limit then break end
  end
  if #batch < want and found < limit then out[1] = ''; break end
  cursor = '(' .. out[1]
end
return out

-- name: beat
-- KEYS[1] is W. ARGV: id, last seen, info (JSON), its expiry (unix ms), oldest last seen
-- kept. Upserts the worker's record; forgets those silent for longer.
local workers, key = stem .. 'workers', stem .. 'w:' .. ARGV[1]
redis.call('HSET', key, 'i', ARGV[3])
redis.call('HDEL', key, 'x')
redis.call('PEXPIREAT', key, ARGV[4])
redis.call('ZADD', workers, ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', workers, '-inf', '(' .. ARGV[5])
return 1

-- name: stopped
-- KEYS[1] is W. ARGV: id. The worker said goodbye (its record, if still kept, says so).
local key = stem .. 'w:' .. ARGV[1]
if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'x', '1') end
return 1

-- name: workers
-- KEYS[1] is W. ARGV: oldest last seen kept. Returns info, stopped ('1' or '') pairs,
-- the most recently heard first.
local out = {}
for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', stem .. 'workers', '+inf', ARGV[1])) do
  local fields = redis.call('HMGET', stem .. 'w:' .. id, 'i', 'x')
  if fields[1] then
    table.insert(out, fields[1]); table.insert(out, fields[2] or '')
  end
end
return out

-- name: lock_renew
-- The upgrade lock of redis_upgrade.py (run without the prelude; KEYS[1] is the lock):
-- ARGV: token, ms. Extends the lock only while this token holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0

-- name: lock_release
-- ARGV: token. Deletes the lock only while this token holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
