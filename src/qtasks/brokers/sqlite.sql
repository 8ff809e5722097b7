-- The SQLite transport's whole schema and every statement it runs.
--
-- One table holds each task from enqueue to result: the queue entry (queue,
-- priority, eta; the time-ordered id breaks ties, FIFO), the lease while a worker runs it
-- (status 'process', worker_id, lease_until) and, once final, the result with
-- its expiry. The status strings are TaskStatusEnum's values.
--
-- Every row belongs to one app: ``app`` is the app's name (its namespace), and every
-- statement below reads and writes the rows of one app only (:app / the first ?), so
-- apps with different names share a file without ever seeing each other's tasks.
--
-- Two small tables serve operators (inspection_tables below): qtasks_worker, each
-- worker's last heartbeat, and qtasks_minute, per-minute totals per queue.

-- name: schema
CREATE TABLE IF NOT EXISTS qtasks_task (
    id           TEXT    NOT NULL PRIMARY KEY, -- the task's UUIDv7: time-ordered, so appended
    app          TEXT    NOT NULL,          -- the app's name: its namespace
    queue        TEXT    NOT NULL,
    task_name    TEXT    NOT NULL,
    priority     INTEGER NOT NULL,          -- larger runs first
    eta          REAL    NOT NULL,          -- unix time it may start (enqueue time if at once)
    status       TEXT    NOT NULL,          -- new | process | success | error | cancel | retry
    attempt      INTEGER NOT NULL DEFAULT 0,-- deliveries so far
    lease_until  REAL,                      -- while 'process': when the lease expires
    worker_id    TEXT,                      -- the worker holding (or last holding) it
    worker_ids   TEXT,                      -- JSON list: every worker that claimed it, in order
    body         BLOB    NOT NULL,          -- the JSON envelope, never decoded here
    result       BLOB,                      -- JSON return value
    traceback    TEXT,
    error_type   TEXT,                      -- module.QualName of the exception, when failed
    created_at   REAL    NOT NULL,
    updated_at   REAL    NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    expires_at   REAL,                      -- final rows: deleted after this time
    retry_parent TEXT,
    retry_child  TEXT,
    cancel_reason TEXT,
    cancel_requested TEXT,                  -- while 'process': cancel() asked its worker to stop
    at_most_once INTEGER NOT NULL DEFAULT 0,-- acks_early: a lost lease fails it, never reruns
    delayed      INTEGER NOT NULL DEFAULT 0 -- 'new' with an eta ahead: kept out of the ready
                                            -- index until a claim finds it due (promote_due)
) WITHOUT ROWID;                            -- one b-tree keyed by id: no separate id index
-- Ready tasks only: a claim reads the best of them and nothing else, however many tasks
-- wait for a later eta (those are in qtasks_task_delayed, ordered by eta).
CREATE INDEX IF NOT EXISTS qtasks_task_ready
    ON qtasks_task (app, queue, priority DESC, eta, id) WHERE status = 'new' AND delayed = 0;
CREATE INDEX IF NOT EXISTS qtasks_task_delayed
    ON qtasks_task (app, eta) WHERE status = 'new' AND delayed = 1;
CREATE INDEX IF NOT EXISTS qtasks_task_leased
    ON qtasks_task (app, lease_until) WHERE status = 'process';
CREATE INDEX IF NOT EXISTS qtasks_task_expiry
    ON qtasks_task (app, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS qtasks_task_dead  -- dead letters: failed tasks, newest first
    ON qtasks_task (app, finished_at) WHERE status = 'error';
{inspection_tables}
{unique_table}
PRAGMA user_version = 8;                    -- SCHEMA_VERSION in sqlite_schema.py

-- name: inspection_tables
-- What operators read besides tasks (part of the schema above and of migrate_to_7).
-- One row per worker of an app: its last heartbeat as it sent it; a heartbeat deletes
-- the rows of its app last seen over an hour ago (stopped and dead workers are kept
-- until then).
CREATE TABLE IF NOT EXISTS qtasks_worker (
    app          TEXT    NOT NULL,
    id           TEXT    NOT NULL,          -- host:pid:random, as in Task.worker_id
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT    NOT NULL,          -- JSON list of the queues it claims from
    concurrency  INTEGER NOT NULL,
    started_at   REAL    NOT NULL,
    last_seen    REAL    NOT NULL,          -- unix time of its last heartbeat
    running      TEXT    NOT NULL,          -- JSON list of the ids of the tasks it runs
    done         INTEGER NOT NULL,          -- tasks it finished since it started
    failed       INTEGER NOT NULL,          -- of those, how many ended in 'error'
    stopped      INTEGER NOT NULL DEFAULT 0,-- 1: it said goodbye (worker_stopped)
    PRIMARY KEY (app, id)
) WITHOUT ROWID;
-- Per-minute totals of an app's queue: the enqueuing broker adds 'enqueued' at most once a
-- second (add_counts; see sqlite_counts.py), heartbeats add what workers finished; a
-- heartbeat deletes its app's minutes older than two hours.
CREATE TABLE IF NOT EXISTS qtasks_minute (
    app          TEXT    NOT NULL,
    minute       INTEGER NOT NULL,          -- unix time // 60
    queue        TEXT    NOT NULL,
    enqueued     INTEGER NOT NULL DEFAULT 0,
    succeeded    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    retried      INTEGER NOT NULL DEFAULT 0,
    cancelled    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app, minute, queue)
) WITHOUT ROWID;

-- name: unique_table
-- Unique keys (core/unique.py): who holds each key of an app's queue, and until when at
-- least. A row is never released: take_key decides at the next enqueue whether its hold
-- is over (from the holder's status), and purge_expired deletes the rows free for good.
CREATE TABLE IF NOT EXISTS qtasks_unique (
    app          TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    task_id      TEXT    NOT NULL,          -- the holder: the task that took the key
    held_until   REAL    NOT NULL,          -- its unique_until (unix time)
    PRIMARY KEY (app, queue, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS qtasks_unique_until ON qtasks_unique (app, held_until);

-- name: migrate_7_to_8
-- Version 8 added unique keys.
{unique_table}
PRAGMA user_version = 8;

-- name: migrate_2_to_3
-- Version 3 added cancellation of running tasks, acks_early and the dead-letter index.
ALTER TABLE qtasks_task ADD COLUMN cancel_requested TEXT;
ALTER TABLE qtasks_task ADD COLUMN at_most_once INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS qtasks_task_dead
    ON qtasks_task (finished_at) WHERE status = 'error';
PRAGMA user_version = 3;

-- name: migrate_3_to_4
-- Version 4 made each app name a namespace. Rows written before belong to the app whose
-- process upgrades the file (:app): before version 4 one file served one app in practice,
-- since two apps on a file took each other's tasks.
ALTER TABLE qtasks_task ADD COLUMN app TEXT NOT NULL DEFAULT '';
UPDATE qtasks_task SET app = :app;
DROP INDEX IF EXISTS qtasks_task_ready;
DROP INDEX IF EXISTS qtasks_task_leased;
DROP INDEX IF EXISTS qtasks_task_expiry;
DROP INDEX IF EXISTS qtasks_task_dead;
CREATE INDEX qtasks_task_ready
    ON qtasks_task (app, queue, priority DESC, eta, id) WHERE status = 'new';
CREATE INDEX qtasks_task_leased ON qtasks_task (app, lease_until) WHERE status = 'process';
CREATE INDEX qtasks_task_expiry ON qtasks_task (app, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX qtasks_task_dead ON qtasks_task (app, finished_at) WHERE status = 'error';
PRAGMA user_version = 4;

-- name: migrate_4_to_5
-- Version 5 keeps delayed tasks out of the ready index, so an empty claim reads nothing
-- however many tasks wait for a later eta (before, it scanned all of them).
ALTER TABLE qtasks_task ADD COLUMN delayed INTEGER NOT NULL DEFAULT 0;
UPDATE qtasks_task SET delayed = 1 WHERE status = 'new' AND eta > :now;
DROP INDEX IF EXISTS qtasks_task_ready;
CREATE INDEX qtasks_task_ready
    ON qtasks_task (app, queue, priority DESC, eta, id) WHERE status = 'new' AND delayed = 0;
CREATE INDEX qtasks_task_delayed ON qtasks_task (app, eta) WHERE status = 'new' AND delayed = 1;
PRAGMA user_version = 5;

-- name: migrate_to_7
-- Version 7 added worker records and per-minute totals for operators. It upgrades version
-- 5 files and version 6 ones (a development version that had the tables): all IF NOT
-- EXISTS. (Development files of version 7 may hold a view qtasks_enqueue and its trigger,
-- no longer used.)
{inspection_tables}
PRAGMA user_version = 7;

-- name: has_schema
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'qtasks_task';

-- name: enqueue
-- One task (counted in memory by the broker), a batch's remainder, or a retry's new task.
INSERT INTO qtasks_task (app, id, queue, task_name, priority, eta, status, body,
                         created_at, updated_at, retry_parent, delayed)
VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?);

-- name: enqueue_many
-- The same insert for {rows} rows in one statement: bulk enqueues run a quarter faster
-- than executemany of the single-row form.
INSERT INTO qtasks_task (app, id, queue, task_name, priority, eta, status, body,
                         created_at, updated_at, retry_parent, delayed)
VALUES {rows};

-- name: take_key
-- A unique message takes its key, unless its holder still holds it (core/unique.py: the
-- holder waits or runs and :while_running, or its hold ends after :after); no row back
-- means held (key_holder says by whom). In the enqueue's transaction, before the insert.
INSERT INTO qtasks_unique (app, queue, key, task_id, held_until)
VALUES (:app, :queue, :key, :id, :until)
ON CONFLICT (app, queue, key) DO UPDATE
SET task_id = excluded.task_id, held_until = excluded.held_until
WHERE qtasks_unique.held_until <= :after
  AND NOT (:while_running AND EXISTS (
      SELECT 1 FROM qtasks_task AS t
      WHERE t.app = qtasks_unique.app AND t.id = qtasks_unique.task_id
        AND t.status IN ('new', 'process')))
RETURNING task_id;

-- name: key_holder
SELECT task_id, held_until FROM qtasks_unique WHERE app = ? AND queue = ? AND key = ?;

-- name: hand_key_over
-- A retry's new attempt takes the key of the attempt it retries (in complete's transaction).
UPDATE qtasks_unique SET task_id = :child
WHERE app = :app AND queue = :queue AND key = :key AND task_id = :parent;

-- name: purge_keys
-- Keys free for good: the hold is over and the holder is final (or gone).
DELETE FROM qtasks_unique
WHERE app = :app AND held_until <= :now AND NOT EXISTS (
    SELECT 1 FROM qtasks_task AS t
    WHERE t.app = qtasks_unique.app AND t.id = qtasks_unique.task_id
      AND t.status IN ('new', 'process'));

-- name: flush_keys
DELETE FROM qtasks_unique WHERE app = ?;

-- name: has_ready
-- A read-only probe, so idle workers do not take the write lock for nothing: a ready task
-- of these queues, or a delayed one now due (each an index seek, not a scan).
SELECT EXISTS (
    SELECT 1 FROM qtasks_task
    WHERE app = ? AND status = 'new' AND delayed = 0 AND queue IN ({queues})
) OR EXISTS (
    SELECT 1 FROM qtasks_task
    WHERE app = ? AND status = 'new' AND delayed = 1 AND eta <= ? AND queue IN ({queues})
);

-- name: any_due
-- Is a delayed task due? A read (a seek in qtasks_task_delayed): no write lock for nothing.
SELECT 1 FROM qtasks_task
WHERE app = ? AND status = 'new' AND delayed = 1 AND eta <= ? LIMIT 1;

-- name: promote_due
-- Delayed tasks whose eta has come join the ready index (before a claim, when any_due
-- found one: a range of qtasks_task_delayed).
UPDATE qtasks_task SET delayed = 0
WHERE app = ? AND status = 'new' AND delayed = 1 AND eta <= ?;

-- name: claim
-- Lease the best ready tasks in one statement: priority, then eta, then FIFO.
UPDATE qtasks_task
SET status = 'process', attempt = attempt + 1, worker_id = ?,
    worker_ids = json_insert(coalesce(worker_ids, '[]'), '$[#]', ?), lease_until = ?,
    started_at = ?, updated_at = ?
WHERE id IN (
    SELECT id FROM qtasks_task
    WHERE app = ? AND status = 'new' AND delayed = 0 AND queue IN ({queues})
    ORDER BY priority DESC, eta, id
    LIMIT ?
)
RETURNING id, body, attempt, priority, eta, worker_ids;

-- name: extend
-- Renew the leases (ids: a JSON list) and report which of them cancel() asked to stop.
UPDATE qtasks_task SET lease_until = ?
WHERE app = ? AND id IN (SELECT value FROM json_each(?)) AND status = 'process' AND worker_id = ?
RETURNING id, cancel_requested;

-- name: start_at_most_once
UPDATE qtasks_task SET at_most_once = 1
WHERE app = ? AND id IN (SELECT value FROM json_each(?)) AND status = 'process' AND worker_id = ?;

-- name: complete
-- Store the outcome and acknowledge in one step; a row another worker already
-- finished (after this worker's lease expired) is left as it is.
UPDATE qtasks_task
SET status = ?, result = ?, traceback = ?, error_type = ?, finished_at = ?, updated_at = ?,
    expires_at = ?, retry_child = ?, cancel_reason = ?, lease_until = NULL
WHERE app = ? AND id = ? AND status IN ('new', 'process');

-- name: release
-- Back to the queue, the attempt not counted; unless cancel() asked to stop it: cancelled.
UPDATE qtasks_task
SET status = CASE WHEN cancel_requested IS NULL THEN 'new' ELSE 'cancel' END,
    cancel_reason = cancel_requested,
    finished_at = CASE WHEN cancel_requested IS NULL THEN NULL ELSE :now END,
    expires_at = CASE WHEN cancel_requested IS NULL THEN NULL ELSE :expires END,
    attempt = attempt - 1, lease_until = NULL, updated_at = :now,
    worker_ids = json_remove(worker_ids, '$[#-1]')   -- the release does not count
WHERE app = :app AND id = :id AND status = 'process' AND worker_id = :worker;

-- name: cancel_expired
-- A lost worker's task that cancel() had asked to stop is cancelled, not rerun.
UPDATE qtasks_task
SET status = 'cancel', cancel_reason = cancel_requested, finished_at = :now,
    updated_at = :now, expires_at = :expires, lease_until = NULL
WHERE app = :app AND status = 'process' AND lease_until < :now
  AND cancel_requested IS NOT NULL;

-- name: fail_exhausted
-- Tasks whose workers died under them too often are failed, not retried forever, and so
-- are at-most-once (acks_early) tasks at their first lost worker.
UPDATE qtasks_task
SET status = 'error',
    traceback = CASE WHEN at_most_once THEN :lost_once ELSE :lost_often END,
    error_type = 'qtasks.core.errors.WorkerLostError',
    finished_at = :now, updated_at = :now, expires_at = :expires, lease_until = NULL
WHERE app = :app AND status = 'process' AND lease_until < :now
  AND (attempt >= :max_attempts OR at_most_once);

-- name: recover_expired
UPDATE qtasks_task
SET status = 'new', lease_until = NULL, updated_at = ?
WHERE app = ? AND status = 'process' AND lease_until < ?;

-- name: checkpoint
-- Workers fold the write-ahead log back into the database now and then, so
-- producers rarely pay for it inside an enqueue.
PRAGMA wal_checkpoint(PASSIVE);

-- name: purge_expired
DELETE FROM qtasks_task WHERE app = ? AND expires_at IS NOT NULL AND expires_at <= ?;

-- name: get
SELECT {task_columns} FROM qtasks_task
WHERE app = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?);

-- name: task_columns
-- What StoredTask is read from (_stored_task in sqlite.py maps them in this order).
id, task_name, queue, status, priority, body, attempt, created_at, updated_at,
started_at, finished_at, result, traceback, worker_id, retry_parent, retry_child,
cancel_reason, worker_ids, error_type

-- name: cancel_state
SELECT status FROM qtasks_task
WHERE app = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?);

-- name: cancel_waiting
UPDATE qtasks_task
SET status = 'cancel', cancel_reason = :reason, finished_at = :now, updated_at = :now,
    expires_at = :expires
WHERE app = :app AND id = :id AND status = 'new';

-- name: request_cancel
UPDATE qtasks_task SET cancel_requested = :reason, updated_at = :now
WHERE app = :app AND id = :id AND status = 'process';

-- name: dead_filter
-- Which dead letters a DeadLetterQuery selects (each criterion NULL = any).
app = :app AND status = 'error' AND (expires_at IS NULL OR expires_at > :now)
AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
AND (:task_name IS NULL OR task_name = :task_name)
AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))

-- name: dead_letters
SELECT {task_columns} FROM qtasks_task WHERE {dead_filter}
ORDER BY finished_at DESC LIMIT :limit;

-- name: requeue_dead
-- Same id and message, attempts counted from zero, due now.
UPDATE qtasks_task
SET status = 'new', delayed = 0, attempt = 0, eta = :now, updated_at = :now, started_at = NULL,
    finished_at = NULL, result = NULL, traceback = NULL, error_type = NULL, worker_id = NULL,
    worker_ids = NULL, expires_at = NULL, at_most_once = 0, lease_until = NULL
WHERE {dead_filter};

-- name: purge_dead
DELETE FROM qtasks_task WHERE {dead_filter};

-- name: status_of
SELECT status FROM qtasks_task WHERE app = ? AND id = ?;

-- name: count
SELECT status, count(*) FROM qtasks_task WHERE app = ? GROUP BY status;

-- name: count_queues
SELECT status, count(*) FROM qtasks_task WHERE app = ? AND queue IN ({queues}) GROUP BY status;

-- name: flush_all
DELETE FROM qtasks_task WHERE app = ?;

-- name: flush_workers
DELETE FROM qtasks_worker WHERE app = ?;

-- name: flush_minutes
DELETE FROM qtasks_minute WHERE app = ?;

-- name: list_tasks
-- Newest first by id (time-ordered): a backward walk of the primary key from :before
-- on, no sort (without :before, from the end: x'' is a BLOB, and every TEXT sorts below
-- every BLOB); each other criterion NULL = any. No index of its own, so it costs claims
-- and completes nothing.
SELECT {task_columns} FROM qtasks_task
WHERE id < coalesce(:before, x'') AND app = :app AND (expires_at IS NULL OR expires_at > :now)
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
  AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
  AND (:task_name IS NULL OR task_name = :task_name)
ORDER BY id DESC LIMIT :limit;

-- name: queue_depths
-- Tasks not yet final per queue: each part reads one partial index (ready, delayed,
-- leased), never the finished rows. A delayed task whose eta has come but that no
-- claim has promoted yet is ready already.
SELECT queue, sum(n_ready), sum(n_delayed), sum(n_running) FROM (
    SELECT queue, count(*) AS n_ready, 0 AS n_delayed, 0 AS n_running FROM qtasks_task
    WHERE app = :app AND status = 'new' AND delayed = 0 GROUP BY queue
    UNION ALL
    SELECT queue, sum(eta <= :now), sum(eta > :now), 0 FROM qtasks_task
    WHERE app = :app AND status = 'new' AND delayed = 1 GROUP BY queue
    UNION ALL
    SELECT queue, 0, 0, count(*) FROM qtasks_task
    WHERE app = :app AND status = 'process' GROUP BY queue
)
GROUP BY queue ORDER BY queue;

-- name: heartbeat
-- One worker's record, as its heartbeat describes it (an upsert).
INSERT INTO qtasks_worker (app, id, host, pid, queues, concurrency, started_at, last_seen,
                           running, done, failed, stopped)
VALUES (:app, :id, :host, :pid, :queues, :concurrency, :started_at, :last_seen,
        :running, :done, :failed, :stopped)
ON CONFLICT (app, id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, queues = excluded.queues,
    concurrency = excluded.concurrency, started_at = excluded.started_at,
    last_seen = excluded.last_seen, running = excluded.running, done = excluded.done,
    failed = excluded.failed, stopped = excluded.stopped;

-- name: add_counts
-- What a heartbeat reports finished, or what a broker enqueued, added to the minute's
-- totals. Only enqueue counts 'enqueued': the new task of a retry (inserted by complete)
-- is the worker's 'retried'.
INSERT INTO qtasks_minute (app, minute, queue, enqueued, succeeded, failed, retried, cancelled)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (app, minute, queue) DO UPDATE SET
    enqueued = enqueued + excluded.enqueued, succeeded = succeeded + excluded.succeeded,
    failed = failed + excluded.failed, retried = retried + excluded.retried,
    cancelled = cancelled + excluded.cancelled;

-- name: drop_old_workers
DELETE FROM qtasks_worker WHERE app = ? AND last_seen < ?;

-- name: drop_old_minutes
DELETE FROM qtasks_minute WHERE app = ? AND minute < ?;

-- name: worker_stopped
UPDATE qtasks_worker SET stopped = 1 WHERE app = ? AND id = ?;

-- name: workers
SELECT id, host, pid, queues, concurrency, started_at, last_seen, running, done, failed,
       stopped
FROM qtasks_worker WHERE app = ? AND last_seen >= ? ORDER BY last_seen DESC, id DESC;

-- name: throughput
SELECT minute, queue, enqueued, succeeded, failed, retried, cancelled
FROM qtasks_minute WHERE app = ? AND minute >= ? ORDER BY minute, queue;
