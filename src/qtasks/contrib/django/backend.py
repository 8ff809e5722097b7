"""``QTasksBackend``: Django's Tasks framework on qtasks' engine and workers.

    TASKS = {"default": {
        "BACKEND": "qtasks.contrib.django.backend.QTasksBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {"broker_url": "sqlite:///tasks.sqlite3"},
    }}

Works on ``django.tasks`` (Django 6.x) and the ``django_tasks`` backport
(Django 5.2). Django makes a backend instance per thread; the qtasks app
behind it (broker connections, the worker's resolver) is made once per alias
and options and shared. Tasks run in ``manage.py qtasks_worker``.

``OPTIONS["unique"]``: ``unique.py``; ``OPTIONS["schedule"]``: ``schedules.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.module_loading import import_string

from qtasks.app import AppCore
from qtasks.brokers.urls import display_url
from qtasks.config import QueueConfig
from qtasks.contrib.django import compat
from qtasks.contrib.django.database import (
    database_alias,
    enqueue_on_django_connection,
    resolve_broker_url,
)
from qtasks.contrib.django.execution import BACKEND_HEADER, DjangoTaskRunner
from qtasks.contrib.django.options import BackendOptions, parse_options
from qtasks.contrib.django.results import belongs_to, task_result
from qtasks.contrib.django.schedules import make_schedules
from qtasks.contrib.django.signals import install_signals
from qtasks.contrib.django.unique import become, holder_result, unique_errors
from qtasks.core.envelope import Envelope, sending_limit
from qtasks.core.errors import ConfigurationError
from qtasks.core.hooks import EnqueueCall
from qtasks.core.ids import new_task_id
from qtasks.core.records import StoredTask
from qtasks.core.unique import default_key

_apps: dict[tuple[str, str], AppCore[Any]] = {}
_apps_lock = threading.Lock()


def _shared_app(backend: QTasksBackend) -> AppCore[Any]:
    """The one qtasks app behind a backend alias (with its Django-task resolver and the
    alias' schedules)."""
    alias, options = backend.alias, backend.qtasks_options
    key = (alias, repr(options))
    app = _apps.get(key)
    if app is not None:
        return app
    schedules = make_schedules(backend)  # imports the tasks: not under the lock
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            if options.app:
                app = import_string(options.app.replace(":", "."))
                if not isinstance(app, AppCore):
                    raise ConfigurationError(
                        f"OPTIONS['app'] {options.app!r} is not a QueueTasks app"
                    )
            else:
                from qtasks import QueueTasks

                app = QueueTasks(
                    name=f"django:{alias}",
                    broker_url=resolve_broker_url(options.broker_url),
                    config=QueueConfig(
                        result_ttl=options.result_ttl,
                        lease_seconds=options.lease_seconds,
                        retry_backoff=options.retry_backoff,
                        retry_backoff_max=options.retry_backoff_max,
                    ),
                )
            for schedule in schedules:  # first: a clash with the app's own adds nothing else
                taken = app.schedules.get(schedule.name)
                if taken is not None and taken.task_name != schedule.task_name:
                    raise ConfigurationError(
                        f"OPTIONS['schedule'][{schedule.name!r}]: the app already has a "
                        f"schedule of that name, of task {taken.task_name!r}"
                    )
            for schedule in schedules:
                app._add_schedule(schedule)
            app.add_resolver(DjangoTaskRunner(type(backend), alias, options).resolve)
            install_signals(app)  # task_started / task_finished, as one hook
            _apps[key] = app
        return app


class QTasksBackend(compat.BaseTaskBackend):  # type: ignore[misc]
    """A Django Tasks backend whose tasks run on qtasks workers."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._options_error: ConfigurationError | None = None
        try:
            self.qtasks_options = parse_options(self.options)
        except ConfigurationError as exc:  # reported by check(); raised on use
            self._options_error = exc
            self.qtasks_options = BackendOptions()
        self._app: AppCore[Any] | None = None
        self._validated: set[Any] = set()
        self._statement_broker: Any = None
        self._unique = dict(self.qtasks_options.unique)

    @property
    def app(self) -> AppCore[Any]:
        """The qtasks app this backend enqueues through and its workers run."""
        if self._options_error is not None:
            raise ImproperlyConfigured(f"TASKS[{self.alias!r}]: {self._options_error}")
        if self._app is None:
            self._app = _shared_app(self)
        return self._app

    # enqueue -------------------------------------------------------------------------

    def _prepare(self, task: Any, args: Any, kwargs: Any) -> tuple[Any, Envelope]:
        if task not in self._validated:
            self.validate_task(task)
            if task.run_after is None:  # the same task enqueued again needs no new check
                self._validated.add(task)
        now = time.time()
        json_args, json_kwargs = compat.json_args(args, kwargs)  # non-JSON raises TypeError
        result = compat.new_result(
            task,
            new_task_id(),
            compat.TaskResultStatus.READY,
            datetime.fromtimestamp(now, UTC),
            None,
            None,
            None,
            json_args,
            json_kwargs,
            self.alias,
            [],
            [],
        )
        run_after = task.run_after.timestamp() if task.run_after is not None else now
        hold = self._unique.get(task.module_path)  # a unique task: held this long
        key = None if hold is None else default_key(task.module_path, json_args, json_kwargs)
        envelope = Envelope(
            id=result.id,
            task_name=task.module_path,
            queue=task.queue_name,
            args=tuple(json_args),
            kwargs=json_kwargs,
            priority=task.priority,
            eta=run_after,
            created_at=now,
            retries_left=self.qtasks_options.retry,
            headers={BACKEND_HEADER: self.alias},
            unique_key=key,
            unique_until=0.0 if hold is None else now + hold,
        )
        return result, envelope

    def _sent(self, result: Any) -> None:
        compat.task_enqueued.send(type(self), task_result=result)

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        app = self.app
        result, envelope = self._prepare(task, args, kwargs)
        in_django_db = database_alias(self.qtasks_options.broker_url)

        def send() -> Any:
            """Sends the task; the holder's result if a held unique key kept it out."""
            if in_django_db is None:
                _, held = app._sync(app._enqueue([envelope]))
                if held:
                    return app._sync(holder_result(self, held[envelope.id], result))
            else:  # on Django's own connection: inside the caller's transaction, if any
                # (never a unique task: parse_options refuses them with django://)
                sent, calls = [envelope], list[EnqueueCall]()
                if app.hooks.watches_enqueue:
                    sent, calls = app._sync(app._before_enqueue(sent))
                with sending_limit(app._client.max_message_bytes):
                    enqueue_on_django_connection(in_django_db, self._statements(app), sent)
                if calls:
                    app._sync(app._after_enqueue(calls, sent))
            self._sent(result)
            return None

        database = self.qtasks_options.database
        if in_django_db is not None and "database" not in self.options:
            database = in_django_db  # the queue's own database is the one to follow
        if (
            self.qtasks_options.enqueue_on_commit
            and transaction.get_connection(database).in_atomic_block
        ):
            # Never sent if it rolls back; deduplicated at the commit, ``result`` becomes
            # the holder's in place (its id too: read it after the block).
            transaction.on_commit(lambda: become(result, send()), using=database)
            return result
        holder = send()
        return result if holder is None else holder

    def _statements(self, app: AppCore[Any]) -> Any:
        """A broker of the app used only to build statements (its tables made once)."""
        if self._statement_broker is None:
            if not app._sync(app._client.ping()):  # connecting applies the migrations
                raise ImproperlyConfigured(
                    f"TASKS[{self.alias!r}]: the queue's database does not answer"
                )
            self._statement_broker = app._client.new_broker()
        return self._statement_broker

    async def aenqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        app = self.app
        result, envelope = self._prepare(task, args, kwargs)
        _, held = await app._enqueue([envelope])
        if held:
            return await holder_result(self, held[envelope.id], result)
        self._sent(result)
        return result

    # results -------------------------------------------------------------------------

    async def _chain(self, result_id: str) -> list[StoredTask]:
        client = self.app._client
        stored = await client.get(result_id)
        if stored is None or not belongs_to(stored, self.alias):
            raise compat.TaskResultDoesNotExist(result_id)
        chain = [stored]
        while chain[-1].retry_child:
            child = await client.get(chain[-1].retry_child)
            if child is None:
                break
            chain.append(child)
        return chain

    def get_result(self, result_id: str) -> Any:
        return task_result(self.app._sync(self._chain(str(result_id))), self.alias)

    async def aget_result(self, result_id: str) -> Any:
        return task_result(await self._chain(str(result_id)), self.alias)

    # checks --------------------------------------------------------------------------

    def check(self, **kwargs: Any) -> Iterable[Any]:
        """The configuration checks (no I/O): they run with every management command."""
        yield from super().check(**kwargs)
        if self._options_error is not None:
            yield checks.Error(
                f"TASKS[{self.alias!r}]['OPTIONS'] is invalid: {self._options_error}",
                id="qtasks.E001",
            )
            return
        try:
            _ = self.app
        except Exception as exc:  # an app path or a scheduled task failing to import, a bad URL
            yield checks.Error(f"TASKS[{self.alias!r}]: {exc}", id="qtasks.E002")
        yield from unique_errors(self)

    def check_broker(self) -> Iterable[Any]:
        """``qtasks.E003`` when the broker does not answer: a deployment check (``manage.py
        check --deploy``), so a broker that is down never stops ``migrate`` or ``runserver``."""
        if self._options_error is not None:
            return  # qtasks.E001 says why
        try:
            app = self.app
            reachable = app._sync(app._client.ping())
        except Exception:  # qtasks.E002 (the app cannot be built) says why
            return
        if not reachable:
            yield checks.Error(
                f"TASKS[{self.alias!r}]: the broker at {display_url(app.broker_url)} "
                "does not answer",
                id="qtasks.E003",
            )


@checks.register("qtasks", deploy=True)  # type: ignore[untyped-decorator]
def check_brokers(app_configs: Any = None, **kwargs: Any) -> Iterable[Any]:
    """``qtasks.E003`` for every ``QTasksBackend`` whose broker does not answer (registered
    when this module is imported; ``QTasksConfig.ready()`` imports it)."""
    handler = compat.task_backends()
    for alias in handler:
        try:
            backend = handler[alias]
        except Exception:  # a backend Django cannot load: Django's own check reports it
            continue
        if isinstance(backend, QTasksBackend):
            yield from backend.check_broker()
