-- The PostgreSQL transport's whole schema and every statement it runs (loaded by postgres.py).
--
-- Tables, in the schema chosen by the URL (``?schema=``, default ``public``):
--   qtasks_schema_version  one row per migration applied (version, applied_at)
--   qtasks_tasks           each task from enqueue to result: the queue entry (queue,
--                          priority, eta; the time-ordered id breaks ties, FIFO), the lease
--                          while a worker runs it (status 'process', worker_id, lease_until)
--                          and, once final, the result with its expiry (expires_at).
--                          Each row belongs to one app: ``app`` is the app's name (its
--                          namespace) as UTF-8 bytes (bytea: any name, NUL included;
--                          read it with convert_from(app, 'UTF8')), and every statement
--                          below reads and writes the rows of one app, %(app)s, only.
--                          The primary key is (app, id): a listing walks one app's tasks
--                          newest first along it, and every statement that finds tasks
--                          by id matches the whole key (see migration_5).
--   qtasks_workers         one row per worker process of an app, as its last heartbeat
--                          described it (an upsert every few seconds); kept an hour after
--                          that heartbeat (last_seen), then dropped by a later heartbeat.
--   qtasks_counts          per-minute counts per app and queue (enqueued, and the outcomes
--                          workers report with their heartbeats), append-only: each enqueue
--                          and each heartbeat inserts a piece, never updates a shared row
--                          (no lock for concurrent enqueuers to queue on, no row whose
--                          versions pile up under a long transaction). Readers sum the
--                          pieces; heartbeats fold them into one row per minute and queue
--                          (folded) and drop minutes older than two hours. Unlogged:
--                          a crash of the server empties it.
--   qtasks_unique          unique keys (core/unique.py; migration_6): per app, queue and
--                          key, the holder (the task that last took the key) and its
--                          unique_until. Nothing releases a key: the next enqueue of it
--                          reads from the holder's status whether the hold is over, and
--                          purge_expired deletes keys free for good. Keyed by a digest of
--                          the key (sha256 of its UTF-8), since a key of 1000 characters
--                          may be 4000 bytes, more than a btree entry holds.
-- Notification channels (names built in postgres.py from the schema and the app name, so
-- one app's enqueues never wake another app's idle workers):
--   work   payload: a queue name; sent by every statement that makes tasks due or queued
--          (enqueue, release, recovery), so idle workers of that queue look again
--   done   payload: comma-separated ids of tasks that just became final; wakes result waits
--
-- {schema} is the quoted schema name, filled in when the file is loaded. Times are unix
-- seconds (float8) read from the database clock, so leases mean the same on every host;
-- only a task's eta comes from its producer. Status strings are TaskStatusEnum's values.

-- name: migration_1
-- The first schema: the task table and its three partial indexes.
CREATE TABLE {schema}.qtasks_tasks (
    id            text COLLATE "C" PRIMARY KEY, -- UUIDv7: bytewise order is time order
    queue         text    NOT NULL,
    task_name     text    NOT NULL,
    priority      bigint  NOT NULL,             -- larger runs first
    eta           float8  NOT NULL,             -- may start from then (enqueue time if at once)
    status        text    NOT NULL,             -- new | process | success | error | cancel | retry
    attempt       integer NOT NULL DEFAULT 0,   -- deliveries so far
    lease_until   float8,                       -- while 'process': when the lease expires
    worker_id     text,                         -- the worker holding (or last holding) it
    worker_ids    text[]  NOT NULL DEFAULT '{}',-- every worker that claimed it, in order
    body          bytea   NOT NULL,             -- the JSON envelope, never decoded here
    result        bytea,                        -- JSON return value
    traceback     text,
    error_type    text,                         -- module.QualName of the exception
    created_at    float8  NOT NULL,
    updated_at    float8  NOT NULL,
    started_at    float8,
    finished_at   float8,
    expires_at    float8,                       -- final rows: deleted after this time
    retry_parent  text,
    retry_child   text,
    cancel_reason text
);
-- The claim walks this in order and stops after LIMIT rows: O(log n) however many are queued.
CREATE INDEX qtasks_tasks_ready
    ON {schema}.qtasks_tasks (queue, priority DESC, eta, id) WHERE status = 'new';
-- When the next delayed task of a queue is due: what an idle worker sleeps until.
CREATE INDEX qtasks_tasks_due ON {schema}.qtasks_tasks (queue, eta) WHERE status = 'new';
CREATE INDEX qtasks_tasks_leased
    ON {schema}.qtasks_tasks (lease_until) WHERE status = 'process';
CREATE INDEX qtasks_tasks_expiry
    ON {schema}.qtasks_tasks (expires_at) WHERE expires_at IS NOT NULL;

-- name: migration_2
-- Cancellation of running tasks, at-most-once (acks_early) runs, and dead letters (failed
-- tasks, listed newest first).
ALTER TABLE {schema}.qtasks_tasks ADD COLUMN cancel_requested text; -- reason, while running
ALTER TABLE {schema}.qtasks_tasks ADD COLUMN at_most_once boolean NOT NULL DEFAULT false;
CREATE INDEX qtasks_tasks_dead
    ON {schema}.qtasks_tasks (finished_at DESC) WHERE status = 'error';

-- name: migration_3
-- App names became namespaces. The rows written before belong to the app whose process
-- applies this ({app}, filled in by postgres_schema.migrate): before version 3 one schema
-- served one app in practice, since two apps on it took each other's tasks. A constant
-- default is stored once in the catalog, not written into every row, so this is quick on
-- a large table; dropped again at once, so that a statement without app fails loudly.
-- Every index leads with app: each app walks only its own rows.
ALTER TABLE {schema}.qtasks_tasks ADD COLUMN app bytea NOT NULL DEFAULT {app};
ALTER TABLE {schema}.qtasks_tasks ALTER COLUMN app DROP DEFAULT;
DROP INDEX {schema}.qtasks_tasks_ready;
DROP INDEX {schema}.qtasks_tasks_due;
DROP INDEX {schema}.qtasks_tasks_leased;
DROP INDEX {schema}.qtasks_tasks_expiry;
DROP INDEX {schema}.qtasks_tasks_dead;
CREATE INDEX qtasks_tasks_ready
    ON {schema}.qtasks_tasks (app, queue, priority DESC, eta, id) WHERE status = 'new';
CREATE INDEX qtasks_tasks_due ON {schema}.qtasks_tasks (app, queue, eta) WHERE status = 'new';
CREATE INDEX qtasks_tasks_leased
    ON {schema}.qtasks_tasks (app, lease_until) WHERE status = 'process';
CREATE INDEX qtasks_tasks_expiry
    ON {schema}.qtasks_tasks (app, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX qtasks_tasks_dead
    ON {schema}.qtasks_tasks (app, finished_at DESC) WHERE status = 'error';

-- name: migration_4
-- Delayed tasks leave the ready index: an empty claim reads nothing however many tasks
-- wait for a later eta (before, it walked every one of them). A claim also takes due
-- delayed tasks (qtasks_tasks_delayed, by eta); maintenance moves the due ones into the
-- ready index within a second, so priority orders them there too.
ALTER TABLE {schema}.qtasks_tasks ADD COLUMN delayed boolean NOT NULL DEFAULT false;
UPDATE {schema}.qtasks_tasks SET delayed = true
WHERE status = 'new' AND eta > date_part('epoch', now());
DROP INDEX {schema}.qtasks_tasks_ready;
CREATE INDEX qtasks_tasks_ready ON {schema}.qtasks_tasks (app, queue, priority DESC, eta, id)
    WHERE status = 'new' AND NOT delayed;
CREATE INDEX qtasks_tasks_delayed ON {schema}.qtasks_tasks (app, eta)
    WHERE status = 'new' AND delayed;

-- name: migration_5
-- What operators read. The primary key becomes (app, id), so that a listing walks one
-- app's tasks newest first along it (ids are time-ordered), with no index of its own:
-- claims and completions change indexed columns, so every index would cost each of those
-- writes an entry (about 10 us a task). Each statement that finds tasks by id joins on the
-- whole key, the app coming with the rows it matches (the claimed, expired or completed
-- ones), or names both as constants: never "app = <constant>" beside a join on id alone,
-- which a planner misled by a queue table's stale statistics answers by walking every row
-- of the app. (Processes of an older qtasks, whose enqueue names ON CONFLICT (id), stop
-- working once this applies: stop them first.)
-- The workers' records and the per-minute counts are tables of their own.
ALTER TABLE {schema}.qtasks_tasks DROP CONSTRAINT qtasks_tasks_pkey;
ALTER TABLE {schema}.qtasks_tasks ADD CONSTRAINT qtasks_tasks_pkey PRIMARY KEY (app, id);
CREATE TABLE {schema}.qtasks_workers (
    app         bytea   NOT NULL,
    id          text    COLLATE "C" NOT NULL, -- host:pid:random
    host        text    NOT NULL,
    pid         integer NOT NULL,
    queues      text[]  NOT NULL,
    concurrency integer NOT NULL,
    started_at  float8  NOT NULL,
    last_seen   float8  NOT NULL,             -- the worker's clock at its last heartbeat
    running     text[]  NOT NULL,             -- ids of the tasks it runs
    done        bigint  NOT NULL,             -- finished since it started (any final status)
    failed      bigint  NOT NULL,             -- of those, ended in 'error'
    stopped     boolean NOT NULL,             -- it said goodbye
    PRIMARY KEY (app, id)
);
-- No index that a piece's insert would have to update: the folded rows' unique index is
-- partial. The table is small (two hours of folded rows, and the pieces since the last
-- heartbeat), so readers scan it. UNLOGGED: an enqueue's piece then writes no WAL (most of
-- what counting adds to an enqueue's server time); the price is that a server crash
-- empties the counts and that standbys do not have them: they are an operator's view of
-- the last two hours, not data.
CREATE UNLOGGED TABLE {schema}.qtasks_counts (
    app       bytea   NOT NULL,
    minute    bigint  NOT NULL,               -- unix time // 60, the database's clock
    queue     text    COLLATE "C" NOT NULL,
    enqueued  bigint  NOT NULL DEFAULT 0,
    succeeded bigint  NOT NULL DEFAULT 0,
    failed    bigint  NOT NULL DEFAULT 0,
    retried   bigint  NOT NULL DEFAULT 0,
    cancelled bigint  NOT NULL DEFAULT 0,
    folded    boolean NOT NULL DEFAULT false  -- the sum of pieces, one per (minute, queue)
);
CREATE UNIQUE INDEX qtasks_counts_folded
    ON {schema}.qtasks_counts (app, minute, queue) WHERE folded;

-- name: migration_6
-- Unique keys (qtasks_unique above); the index serves purge_expired (holds that are over).
CREATE TABLE {schema}.qtasks_unique (
    app        bytea  NOT NULL,
    queue      text   COLLATE "C" NOT NULL,
    key_digest bytea  NOT NULL,               -- sha256 of the key's UTF-8 (postgres_unique.py)
    key        text   NOT NULL,               -- the key itself, for people reading the table
    task_id    text   COLLATE "C" NOT NULL,   -- the holder: the task that took the key
    held_until float8 NOT NULL,               -- the holder's unique_until (unix time)
    PRIMARY KEY (app, queue, key_digest)
);
CREATE INDEX qtasks_unique_until ON {schema}.qtasks_unique (app, held_until);

-- name: version_table_exists
SELECT to_regclass(%(table)s) IS NOT NULL;

-- name: schema_version
SELECT coalesce(max(version), 0) FROM {schema}.qtasks_schema_version;

-- name: lock_for_migration
-- Held until the migrating transaction ends: concurrent migrators apply each step once.
SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0));

-- name: schema_exists
SELECT to_regnamespace(%(schema)s) IS NOT NULL;

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS {schema};

-- name: create_version_table
CREATE TABLE IF NOT EXISTS {schema}.qtasks_schema_version (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: record_version
INSERT INTO {schema}.qtasks_schema_version (version) VALUES (%(version)s);

-- name: listen
LISTEN {channel};

-- name: ping
SELECT 1;

-- name: enqueue
-- One statement for any number of tasks ({rows} is one of the two forms below), and
-- one notification per queue (PostgreSQL delivers it at commit).
WITH inserted AS (
    {insert_tasks}
    FROM {rows} AS t(id, queue, task_name, priority, eta, body, created_at, retry_parent),
         (SELECT date_part('epoch', now()) AS now) AS clock
    ON CONFLICT (app, id) DO NOTHING  -- sent twice (a retry over a broken connection): once
    RETURNING queue
){count}
SELECT pg_notify(%(work)s, queue) FROM (SELECT DISTINCT queue FROM inserted) AS q;

-- name: insert_tasks
-- New tasks from rows t (the columns of rows_many) and the database's clock: the insert of
-- enqueue and of enqueue_unique.
INSERT INTO {schema}.qtasks_tasks (app, id, queue, task_name, priority, eta, status, body,
                                   created_at, updated_at, retry_parent, delayed)
    SELECT %(app)s::bytea, t.id, t.queue, t.task_name, t.priority, coalesce(t.eta, clock.now),
           'new', t.body, coalesce(t.created_at, clock.now), clock.now, t.retry_parent,
           coalesce(t.eta, clock.now) > clock.now

-- name: lock_keys
-- A call with unique messages (core/unique.py), first of two statements sent as one
-- pipeline, in the implicit transaction that ends at its Sync: each key of the call is
-- locked, once, in key order (as hand_keys_over locks), waiting for a transaction taking
-- or handing it over to end; a key no row holds gets one, free (held until -infinity,
-- so that a row left by this statement alone, should the call fail between the two,
-- holds nothing). Only then does enqueue_unique start, so that its snapshot has each
-- holder's task row: a single statement taking keys ON CONFLICT would judge a holder by
-- its snapshot, taken before the wait, which lacks the task row of a holder committed
-- during the wait (two producers racing a key would both take it). The row is locked
-- though WHERE false updates nothing.
INSERT INTO {schema}.qtasks_unique AS k (app, queue, key_digest, key, task_id, held_until)
SELECT %(app)s::bytea, m.queue, m.digest, m.key, m.id, '-infinity'
FROM unnest(%(queue)s::text[], %(digest)s::bytea[], %(key)s::text[], %(id)s::text[])
     AS m(queue, digest, key, id)
ORDER BY m.queue COLLATE "C", m.digest
ON CONFLICT (app, queue, key_digest) DO UPDATE SET task_id = k.task_id WHERE false;

-- name: enqueue_unique
-- The call, second statement (see lock_keys): walk applies core/unique.py to each key's
-- messages in the call's order, from the holder as locked: each message takes the key, or
-- is held by the holder of the moment. A message of the call that took a key waits (it
-- is inserted here), so it holds the key against the rest of the call. Each key row ends
-- with its last taker; the messages without a key and those that took theirs are
-- inserted, counted and notified as by enqueue. Returns each held message with its
-- holder, and a row of NULLs (the notifications').
WITH RECURSIVE clock AS (SELECT date_part('epoch', now()) AS now),
call AS (
    SELECT * FROM unnest(%(id)s::text[], %(queue)s::text[], %(task_name)s::text[],
                         %(priority)s::bigint[], %(eta)s::float8[], %(body)s::bytea[],
                         %(created_at)s::float8[], %(retry_parent)s::text[],
                         %(digest)s::bytea[], %(until)s::float8[], %(after)s::float8[],
                         %(while_running)s::boolean[]) WITH ORDINALITY
        AS c(id, queue, task_name, priority, eta, body, created_at, retry_parent, digest,
             until, after, while_running, ord)
),
turn AS (  -- the unique messages, numbered per key in the call's order
    SELECT id, queue, digest, until, after, while_running,
           row_number() OVER (PARTITION BY queue, digest ORDER BY ord) AS n
    FROM call WHERE digest IS NOT NULL
),
walk (queue, digest, n, id, took, holder, held_until, active) AS (
    SELECT k.queue, k.key_digest, 0::bigint, NULL::text, false, k.task_id, k.held_until,
           EXISTS (SELECT 1 FROM {schema}.qtasks_tasks AS t
                   WHERE t.app = k.app AND t.id = k.task_id AND t.status IN ('new', 'process'))
    FROM turn AS m
    CROSS JOIN LATERAL (  -- LIMIT: one probe of the primary key per key, whatever the
        SELECT * FROM {schema}.qtasks_unique  -- statistics of a young table say
        WHERE app = %(app)s::bytea AND queue = m.queue AND key_digest = m.digest
        LIMIT 1
    ) AS k
    WHERE m.n = 1
  UNION ALL
    SELECT w.queue, w.digest, m.n, m.id, f.free,
           CASE WHEN f.free THEN m.id ELSE w.holder END,
           CASE WHEN f.free THEN m.until ELSE w.held_until END,
           f.free OR w.active
    FROM walk AS w
    JOIN turn AS m ON m.queue = w.queue AND m.digest = w.digest AND m.n = w.n + 1
    CROSS JOIN LATERAL (
        SELECT m.id = w.holder  -- this call, sent twice: it took the key the first time
            OR (w.held_until <= coalesce(m.after, (SELECT now FROM clock))
                AND NOT (m.while_running AND w.active)) AS free
    ) AS f
),
taken AS (
    SELECT DISTINCT ON (queue, digest) queue, digest, id, held_until
    FROM walk WHERE took
    ORDER BY queue, digest, n DESC
),
moved AS (
    UPDATE {schema}.qtasks_unique AS k SET task_id = taken.id, held_until = taken.held_until
    FROM taken
    WHERE k.app = %(app)s::bytea AND k.queue = taken.queue AND k.key_digest = taken.digest
      AND (k.task_id <> taken.id OR k.held_until <> taken.held_until)
),
inserted AS (
    {insert_tasks}
    FROM call AS t, clock
    WHERE t.digest IS NULL OR t.id IN (SELECT id FROM walk WHERE took)
    ON CONFLICT (app, id) DO NOTHING
    RETURNING queue
){count},
woken AS (
    SELECT pg_notify(%(work)s, queue) FROM (SELECT DISTINCT queue FROM inserted) AS q
)
SELECT id, holder FROM walk WHERE n > 0 AND NOT took
UNION ALL
SELECT NULL, NULL FROM (SELECT count(*) FROM woken) AS told;

-- name: hand_keys_over
-- Retry attempts take over the keys of the attempts they retry, where those still hold
-- them (in complete's transaction, which inserts the attempts). Locked in key order, as
-- lock_keys locks: a completion and an enqueue never wait for each other in a cycle.
WITH handed AS (
    SELECT k.queue, k.key_digest, h.child
    FROM unnest(%(queue)s::text[], %(digest)s::bytea[], %(child)s::text[],
                %(parent)s::text[]) AS h(queue, digest, child, parent)
    JOIN {schema}.qtasks_unique AS k
      ON k.app = %(app)s::bytea AND k.queue = h.queue AND k.key_digest = h.digest
         AND k.task_id = h.parent
    ORDER BY k.queue, k.key_digest
    FOR UPDATE OF k
)
UPDATE {schema}.qtasks_unique AS k SET task_id = handed.child
FROM handed
WHERE k.app = %(app)s::bytea AND k.queue = handed.queue AND k.key_digest = handed.key_digest;

-- name: key_holder
SELECT task_id, held_until FROM {schema}.qtasks_unique
WHERE app = %(app)s::bytea AND queue = %(queue)s AND key_digest = %(digest)s;

-- name: count_enqueued
-- Joined into the enqueue of new tasks (not of retry children): per queue, how many were
-- stored, as a piece of the minute's count, in the enqueue's own statement.
, counted AS (
    INSERT INTO {schema}.qtasks_counts (app, minute, queue, enqueued)
    SELECT %(app)s::bytea, floor(date_part('epoch', now()) / 60)::bigint, queue, count(*)
    FROM inserted GROUP BY queue
)

-- name: rows_many
-- Many tasks: one array per column, unnested into rows.
unnest(%(id)s::text[], %(queue)s::text[], %(task_name)s::text[], %(priority)s::bigint[],
       %(eta)s::float8[], %(body)s::bytea[], %(created_at)s::float8[], %(retry_parent)s::text[])

-- name: rows_one
-- One task: plain parameters, a third cheaper to send and plan than arrays of one.
(VALUES (%(id)s::text, %(queue)s::text, %(task_name)s::text, %(priority)s::bigint,
         %(eta)s::float8, %(body)s::bytea, %(created_at)s::float8, %(retry_parent)s::text))

-- name: claim
-- Lease the best due tasks: per queue, an ordered walk of the ready index that skips
-- rows other workers are claiming, and the delayed tasks now due (a range of the delayed
-- index, empty when none is); then the best `limit` of those across the queues.
WITH ready AS (
    SELECT r.id, r.app, r.priority, r.eta
    FROM unnest(%(queues)s::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, app, priority, eta FROM {schema}.qtasks_tasks
        WHERE app = %(app)s::bytea AND status = 'new' AND NOT delayed AND queue = q.name
        ORDER BY priority DESC, eta, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS r
), due AS (
    SELECT id, app, priority, eta FROM {schema}.qtasks_tasks
    WHERE app = %(app)s::bytea AND status = 'new' AND delayed
      AND eta <= date_part('epoch', now()) AND queue = ANY(%(queues)s::text[])
    ORDER BY eta
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT c.id, c.app FROM (SELECT * FROM ready UNION ALL SELECT * FROM due) AS c
    ORDER BY c.priority DESC, c.eta, c.id
    LIMIT %(limit)s
)
UPDATE {schema}.qtasks_tasks AS t
SET status = 'process', delayed = false, attempt = t.attempt + 1, worker_id = %(worker)s,
    worker_ids = array_append(t.worker_ids, %(worker)s::text),
    lease_until = date_part('epoch', now()) + %(lease)s,
    started_at = date_part('epoch', now()), updated_at = date_part('epoch', now())
FROM picked, {commit_mode}
WHERE t.app = picked.app AND t.id = picked.id
RETURNING t.id, t.body, t.attempt, t.worker_ids, t.priority, t.eta;

-- name: commit_without_flush
-- Joined into statements whose loss in a server crash only repeats work (a claim, a lease
-- renewal): their commit does not wait for the WAL flush (about 0.1 ms each). The setting
-- lasts for the statement's own transaction only.
(SELECT set_config('synchronous_commit', 'off', true)) AS commit_mode

-- name: commit_with_flush
-- The claim inside complete's transaction: outcomes are stored durably.
(SELECT 'on') AS commit_mode

-- name: seconds_to_due
-- How long until the next queued task of these queues may start (negative: due already,
-- but claimed by someone else this instant); NULL when none is queued.
SELECT min(next.eta) - date_part('epoch', now())
FROM unnest(%(queues)s::text[]) AS q(name)
CROSS JOIN LATERAL (
    SELECT eta FROM {schema}.qtasks_tasks
    WHERE app = %(app)s::bytea AND status = 'new' AND queue = q.name
    ORDER BY eta
    LIMIT 1
) AS next;

-- name: extend
-- Renew leases, and report which of those tasks cancel() asked to stop.
UPDATE {schema}.qtasks_tasks SET lease_until = date_part('epoch', now()) + %(lease)s
FROM {commit_mode}
WHERE id = ANY(%(ids)s::text[]) AND app = %(app)s::bytea AND status = 'process'
  AND worker_id = %(worker)s
RETURNING id, cancel_requested;

-- name: start_at_most_once
UPDATE {schema}.qtasks_tasks SET at_most_once = true
WHERE id = ANY(%(ids)s::text[]) AND app = %(app)s::bytea AND status = 'process'
  AND worker_id = %(worker)s;

-- name: complete
-- Store outcomes and acknowledge in one statement; a row another worker already finished
-- (after this worker's lease expired) is left as it is. Waiters hear of up to 100 ids per
-- notification (a payload holds 8000 bytes).
WITH finished AS (
    UPDATE {schema}.qtasks_tasks AS t
    SET status = o.status, result = o.result, traceback = o.traceback,
        error_type = o.error_type, finished_at = o.finished_at,
        updated_at = date_part('epoch', now()),
        expires_at = date_part('epoch', now())
            + CASE WHEN o.status = 'error' THEN %(dead_ttl)s::float8 ELSE %(ttl)s::float8 END,
        retry_child = o.retry_child, cancel_reason = o.cancel_reason, lease_until = NULL
    FROM unnest(%(apps)s::bytea[], %(ids)s::text[], %(statuses)s::text[],
                %(results)s::bytea[], %(tracebacks)s::text[], %(error_types)s::text[],
                %(finished)s::float8[], %(children)s::text[], %(reasons)s::text[])
         AS o(app, id, status, result, traceback, error_type, finished_at, retry_child,
              cancel_reason)
    WHERE t.app = o.app AND t.id = o.id AND t.status IN ('new', 'process')
    RETURNING t.id
)
SELECT pg_notify(%(done)s, string_agg(id, ','))
FROM (SELECT id, (row_number() OVER ()) / 100 AS chunk FROM finished) AS c
GROUP BY chunk;

-- name: release
-- Back to the queue at once; the attempt and the worker's entry in worker_ids do not count.
-- A task cancel() asked to stop is cancelled instead.
WITH released AS (
    UPDATE {schema}.qtasks_tasks AS t
    SET status = CASE WHEN t.cancel_requested IS NULL THEN 'new' ELSE 'cancel' END,
        cancel_reason = coalesce(t.cancel_requested, t.cancel_reason),
        finished_at = CASE WHEN t.cancel_requested IS NOT NULL
                           THEN date_part('epoch', now()) END,
        expires_at = CASE WHEN t.cancel_requested IS NOT NULL
                          THEN date_part('epoch', now()) + %(ttl)s::float8 END,
        attempt = t.attempt - 1, lease_until = NULL,
        updated_at = date_part('epoch', now()),
        worker_ids = t.worker_ids[1:cardinality(t.worker_ids) - 1]
    WHERE t.id = ANY(%(ids)s::text[]) AND t.app = %(app)s::bytea AND t.status = 'process'
      AND t.worker_id = %(worker)s
    RETURNING t.queue, t.id, t.status
),
woken AS (
    SELECT pg_notify(%(work)s, queue)
    FROM (SELECT DISTINCT queue FROM released WHERE status = 'new') AS q
),
told AS (
    SELECT pg_notify(%(done)s, string_agg(id, ','))
    FROM released WHERE status = 'cancel' HAVING count(*) > 0
)
SELECT (SELECT count(*) FROM woken), (SELECT count(*) FROM told);

-- name: promote_due
-- Delayed tasks whose eta has come join the ready index, where priority orders them (the
-- claim takes due delayed tasks too, by eta; this runs in each worker's maintenance).
UPDATE {schema}.qtasks_tasks SET delayed = false
WHERE app = %(app)s::bytea AND status = 'new' AND delayed
  AND eta <= date_part('epoch', now());

-- name: recover_expired
-- Tasks whose lease ran out go back to the queue (their attempt already counted), or,
-- at max_attempts, are failed as lost: their workers kept dying under them. At-most-once
-- tasks fail at once; tasks cancel() asked to stop are cancelled. (The three updates
-- take disjoint rows: a statement may change each row once.)
WITH expired AS (
    SELECT id, app FROM {schema}.qtasks_tasks
    WHERE app = %(app)s::bytea AND status = 'process'
      AND lease_until < date_part('epoch', now())
    FOR UPDATE SKIP LOCKED
),
cancelled AS (
    UPDATE {schema}.qtasks_tasks AS t
    SET status = 'cancel', cancel_reason = t.cancel_requested,
        finished_at = date_part('epoch', now()), updated_at = date_part('epoch', now()),
        expires_at = date_part('epoch', now()) + %(ttl)s::float8, lease_until = NULL
    FROM expired
    WHERE t.app = expired.app AND t.id = expired.id AND t.cancel_requested IS NOT NULL
    RETURNING t.id
),
failed AS (
    UPDATE {schema}.qtasks_tasks AS t
    SET status = 'error', error_type = %(error_type)s,
        traceback = CASE WHEN t.at_most_once THEN %(lost_once)s ELSE %(message)s END,
        finished_at = date_part('epoch', now()), updated_at = date_part('epoch', now()),
        expires_at = date_part('epoch', now()) + %(dead_ttl)s::float8, lease_until = NULL
    FROM expired
    WHERE t.app = expired.app AND t.id = expired.id AND t.cancel_requested IS NULL
      AND (t.attempt >= %(max_attempts)s OR t.at_most_once)
    RETURNING t.id
),
requeued AS (
    UPDATE {schema}.qtasks_tasks AS t
    SET status = 'new', lease_until = NULL, updated_at = date_part('epoch', now())
    FROM expired
    WHERE t.app = expired.app AND t.id = expired.id AND t.cancel_requested IS NULL
      AND t.attempt < %(max_attempts)s AND NOT t.at_most_once
    RETURNING t.queue
),
woken AS (
    SELECT pg_notify(%(work)s, queue) FROM (SELECT DISTINCT queue FROM requeued) AS q
),
told AS (
    SELECT pg_notify(%(done)s, string_agg(id, ','))
    FROM (SELECT id, (row_number() OVER ()) / 100 AS chunk
          FROM (SELECT id FROM failed UNION ALL SELECT id FROM cancelled) AS ended) AS c
    GROUP BY chunk
)
SELECT (SELECT count(*) FROM failed) + (SELECT count(*) FROM requeued)
       + (SELECT count(*) FROM cancelled),
       (SELECT count(*) FROM woken), (SELECT count(*) FROM told);

-- name: purge_expired
-- Expired results, and unique keys free for good: their hold is over and their holder is
-- final or gone. A key row changed since this statement's snapshot (taken or handed over:
-- its new holder's task row may be missing from the snapshot) is left for the next purge,
-- as is one an enqueue has locked: locked compares the row it locks (the newest version)
-- with the one read, and never waits, so never deadlocks with an enqueue.
WITH free_keys AS (
    SELECT k.queue, k.key_digest, k.task_id, k.held_until FROM {schema}.qtasks_unique AS k
    WHERE k.app = %(app)s::bytea AND k.held_until <= date_part('epoch', now())
      AND NOT EXISTS (SELECT 1 FROM {schema}.qtasks_tasks AS t
                      WHERE t.app = k.app AND t.id = k.task_id
                        AND t.status IN ('new', 'process'))
),
locked AS (
    SELECT k.queue, k.key_digest FROM {schema}.qtasks_unique AS k
    JOIN free_keys AS f
      ON k.app = %(app)s::bytea AND k.queue = f.queue AND k.key_digest = f.key_digest
         AND k.task_id = f.task_id AND k.held_until = f.held_until
    FOR UPDATE OF k SKIP LOCKED
),
keys AS (
    DELETE FROM {schema}.qtasks_unique AS k USING locked AS l
    WHERE k.app = %(app)s::bytea AND k.queue = l.queue AND k.key_digest = l.key_digest
)
DELETE FROM {schema}.qtasks_tasks
WHERE app = %(app)s::bytea AND expires_at <= date_part('epoch', now());

-- name: get
SELECT {task_columns} FROM {schema}.qtasks_tasks
WHERE id = %(id)s AND app = %(app)s::bytea
  AND (expires_at IS NULL OR expires_at > date_part('epoch', now()));

-- name: task_columns
-- What StoredTask is read from (each column named as its field).
id, task_name, queue, status, priority, body, attempt, created_at, updated_at,
started_at, finished_at, result, traceback, worker_id, retry_parent, retry_child,
cancel_reason, worker_ids, error_type

-- name: cancel
-- A waiting task is cancelled at once; a running one gets a cancel request its worker
-- reads at its next lease renewal. Returns the status found (no row: unknown).
WITH target AS (
    SELECT id, status FROM {schema}.qtasks_tasks
    WHERE id = %(id)s AND app = %(app)s::bytea
      AND (expires_at IS NULL OR expires_at > date_part('epoch', now()))
    FOR UPDATE
),
waiting AS (
    UPDATE {schema}.qtasks_tasks AS t
    SET status = 'cancel', cancel_reason = %(reason)s, finished_at = date_part('epoch', now()),
        updated_at = date_part('epoch', now()),
        expires_at = date_part('epoch', now()) + %(ttl)s::float8
    FROM target
    WHERE t.app = %(app)s::bytea AND t.id = %(id)s AND t.id = target.id
      AND target.status = 'new'
    RETURNING t.id
),
running AS (
    UPDATE {schema}.qtasks_tasks AS t
    SET cancel_requested = %(reason)s, updated_at = date_part('epoch', now())
    FROM target
    WHERE t.app = %(app)s::bytea AND t.id = %(id)s AND t.id = target.id
      AND target.status = 'process'
    RETURNING t.id
)
SELECT target.status, (SELECT count(*) FROM waiting), (SELECT count(*) FROM running),
       (SELECT count(*) FROM (SELECT pg_notify(%(done)s, id) FROM waiting) AS told)
FROM target;

-- name: dead_filter
-- Which dead letters (failed tasks still stored) a DeadLetterQuery selects; NULL: any.
app = %(app)s::bytea AND status = 'error'
AND (expires_at IS NULL OR expires_at > date_part('epoch', now()))
AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
AND (%(task_name)s::text IS NULL OR task_name = %(task_name)s::text)
AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))

-- name: dead_letters
SELECT {task_columns} FROM {schema}.qtasks_tasks WHERE {dead_filter}
ORDER BY finished_at DESC LIMIT %(limit)s;

-- name: requeue_dead
-- Same id and message, attempts counted from zero, due now.
WITH requeued AS (
    UPDATE {schema}.qtasks_tasks
    SET status = 'new', delayed = false, attempt = 0, eta = date_part('epoch', now()),
        updated_at = date_part('epoch', now()), started_at = NULL, finished_at = NULL,
        result = NULL, traceback = NULL, error_type = NULL, worker_id = NULL,
        worker_ids = '{}', expires_at = NULL, at_most_once = false, lease_until = NULL,
        cancel_requested = NULL
    WHERE {dead_filter}
    RETURNING queue
)
SELECT (SELECT count(*) FROM requeued),
       (SELECT count(*) FROM (SELECT pg_notify(%(work)s, queue)
                              FROM (SELECT DISTINCT queue FROM requeued) AS q) AS woken);

-- name: purge_dead
DELETE FROM {schema}.qtasks_tasks WHERE {dead_filter};

-- name: count
-- Results past their TTL but not yet purged no longer count, as get() no longer finds them.
SELECT status, count(*) FROM {schema}.qtasks_tasks
WHERE app = %(app)s::bytea AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
  AND (expires_at IS NULL OR expires_at > date_part('epoch', now()))
GROUP BY status;

-- name: flush_all
-- This app's rows only: other apps' stay.
WITH workers AS (DELETE FROM {schema}.qtasks_workers WHERE app = %(app)s::bytea),
     counts AS (DELETE FROM {schema}.qtasks_counts WHERE app = %(app)s::bytea),
     keys AS (DELETE FROM {schema}.qtasks_unique WHERE app = %(app)s::bytea)
DELETE FROM {schema}.qtasks_tasks WHERE app = %(app)s::bytea;

-- What operators read (postgres_inspect.py) --------------------------------------------

-- name: task_filter
-- Which stored tasks a TaskQuery selects; NULL: any.
app = %(app)s::bytea
AND (expires_at IS NULL OR expires_at > date_part('epoch', now()))
AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
AND (%(task_name)s::text IS NULL OR task_name = %(task_name)s::text)

-- name: list_tasks
-- Newest first: a backward walk of the primary key (app, id) that stops after `limit`.
SELECT {task_columns} FROM {schema}.qtasks_tasks WHERE {task_filter}
ORDER BY id DESC LIMIT %(limit)s;

-- name: list_tasks_before
-- The next page: the same walk, from the cursor on (a condition of the index scan; the
-- first page has a statement of its own so that no plan has to allow for a NULL cursor).
SELECT {task_columns} FROM {schema}.qtasks_tasks WHERE {task_filter} AND id < %(before)s::text
ORDER BY id DESC LIMIT %(limit)s;

-- name: queue_depths
-- Per queue, tasks not yet final: waiting ones along the index of queued tasks (by queue
-- and eta: due or not), running ones along the index of leases. NULL queues: every queue.
WITH clock AS (SELECT date_part('epoch', now()) AS now),
waiting AS (
    SELECT queue, count(*) FILTER (WHERE eta <= clock.now) AS ready,
           count(*) FILTER (WHERE eta > clock.now) AS delayed
    FROM {schema}.qtasks_tasks, clock
    WHERE app = %(app)s::bytea AND status = 'new'
      AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
    GROUP BY queue
),
running AS (
    SELECT queue, count(*) AS running FROM {schema}.qtasks_tasks
    WHERE app = %(app)s::bytea AND status = 'process'
      AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
    GROUP BY queue
)
SELECT coalesce(w.queue, r.queue), coalesce(w.ready, 0), coalesce(w.delayed, 0),
       coalesce(r.running, 0)
FROM waiting AS w FULL JOIN running AS r ON r.queue = w.queue;

-- name: upsert_worker
-- A heartbeat: the worker's record as it describes itself.
INSERT INTO {schema}.qtasks_workers AS w (app, id, host, pid, queues, concurrency, started_at,
                                          last_seen, running, done, failed, stopped)
VALUES (%(app)s::bytea, %(id)s, %(host)s, %(pid)s, %(queues)s::text[], %(concurrency)s,
        %(started_at)s, %(last_seen)s, %(running)s::text[], %(done)s, %(failed)s,
        %(stopped)s)
ON CONFLICT (app, id) DO UPDATE
SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
    concurrency = excluded.concurrency, started_at = excluded.started_at,
    last_seen = excluded.last_seen, running = excluded.running, done = excluded.done,
    failed = excluded.failed, stopped = excluded.stopped;

-- name: add_counts
-- A heartbeat's outcome counts (one row per minute and queue), as pieces.
INSERT INTO {schema}.qtasks_counts (app, minute, queue, succeeded, failed, retried, cancelled)
SELECT %(app)s::bytea, n.minute, n.queue, n.succeeded, n.failed, n.retried, n.cancelled
FROM unnest(%(minutes)s::bigint[], %(queues)s::text[], %(succeeded)s::bigint[],
            %(failed)s::bigint[], %(retried)s::bigint[], %(cancelled)s::bigint[])
     AS n(minute, queue, succeeded, failed, retried, cancelled);

-- name: tidy_inspection
-- Lazy upkeep, in a heartbeat's transaction, by one heartbeat of the app at a time (an
-- advisory lock it only tries for; the others skip it): up to %(fold_batch)s pieces are
-- summed into the folded rows, minutes older than %(keep_minutes)s and workers silent for
-- %(worker_keep)s seconds are dropped. Rows locked this instant are left for next time:
-- this never waits for a row, so never deadlocks with an enqueue or another heartbeat.
WITH clock AS (
    SELECT date_part('epoch', now()) AS now,
           floor(date_part('epoch', now()) / 60)::bigint AS minute
),
turn AS (SELECT pg_try_advisory_xact_lock(%(tidy_key)s::bigint) AS mine),
free AS (
    SELECT c.ctid FROM {schema}.qtasks_counts AS c, clock
    WHERE (SELECT mine FROM turn) AND c.app = %(app)s::bytea
      AND (NOT c.folded OR c.minute < clock.minute - %(keep_minutes)s)
    LIMIT %(fold_batch)s
    FOR UPDATE OF c SKIP LOCKED
),
taken AS (
    DELETE FROM {schema}.qtasks_counts
    WHERE app = %(app)s::bytea AND ctid = ANY(ARRAY(SELECT ctid FROM free))
    RETURNING minute, queue, enqueued, succeeded, failed, retried, cancelled, folded
),
summed AS (
    INSERT INTO {schema}.qtasks_counts AS c (app, minute, queue, enqueued, succeeded,
                                             failed, retried, cancelled, folded)
    SELECT %(app)s::bytea, t.minute, t.queue, sum(t.enqueued), sum(t.succeeded),
           sum(t.failed), sum(t.retried), sum(t.cancelled), true
    FROM taken AS t, clock
    WHERE NOT t.folded AND t.minute >= clock.minute - %(keep_minutes)s
    GROUP BY t.minute, t.queue
    ORDER BY t.minute, t.queue
    ON CONFLICT (app, minute, queue) WHERE folded DO UPDATE
    SET enqueued = c.enqueued + excluded.enqueued, succeeded = c.succeeded + excluded.succeeded,
        failed = c.failed + excluded.failed, retried = c.retried + excluded.retried,
        cancelled = c.cancelled + excluded.cancelled
    RETURNING 1
),
silent AS (
    SELECT w.id FROM {schema}.qtasks_workers AS w, clock
    WHERE (SELECT mine FROM turn) AND w.app = %(app)s::bytea
      AND w.last_seen < clock.now - %(worker_keep)s
    FOR UPDATE OF w SKIP LOCKED
),
forgotten AS (
    DELETE FROM {schema}.qtasks_workers
    WHERE app = %(app)s::bytea AND id = ANY(ARRAY(SELECT id FROM silent))
    RETURNING 1
)
SELECT (SELECT count(*) FROM taken), (SELECT count(*) FROM summed),
       (SELECT count(*) FROM forgotten);

-- name: worker_stopped
UPDATE {schema}.qtasks_workers SET stopped = true WHERE app = %(app)s::bytea AND id = %(id)s;

-- name: workers
-- Workers heard of within %(worker_keep)s seconds (older records may wait for a tidy-up),
-- most recently heard first.
SELECT id, host, pid, queues, concurrency, started_at, last_seen, running, done, failed,
       stopped
FROM {schema}.qtasks_workers
WHERE app = %(app)s::bytea AND last_seen >= date_part('epoch', now()) - %(worker_keep)s
ORDER BY last_seen DESC, id DESC;

-- name: throughput
-- Per-minute totals (the pieces summed), oldest first, no further back than kept.
SELECT minute, queue, sum(enqueued)::bigint, sum(succeeded)::bigint, sum(failed)::bigint,
       sum(retried)::bigint, sum(cancelled)::bigint
FROM {schema}.qtasks_counts
WHERE app = %(app)s::bytea
  AND minute >= greatest(%(since)s::bigint,
                         floor(date_part('epoch', now()) / 60)::bigint - %(keep_minutes)s)
GROUP BY minute, queue
ORDER BY minute, queue;
