"""The admin pages of :mod:`qtasks.contrib.django.admin`: queues, task results, one result
(by its Django result id or any attempt's uuid), dead letters, and the actions (cancel,
requeue, purge: POST, with Django's CSRF check). Reads go through :mod:`qtasks.monitor`.

Every page is wrapped by the site's ``admin_view``: staff only (others are sent to the
admin's login page), never cached, CSRF-protected. Values reach the templates as data;
Django's templates escape them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import django
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from qtasks.brokers.urls import display_url
from qtasks.cli.screens import error_line
from qtasks.contrib.django import lookups
from qtasks.contrib.django.admin_format import broker_of, chart, django_status
from qtasks.core.errors import QTasksError
from qtasks.core.inspection import COUNT_FIELDS
from qtasks.core.records import DeadLetterQuery
from qtasks.core.result import Task
from qtasks.core.status import TaskStatusEnum
from qtasks.monitor import MAX_LIMIT, Monitor, task_id
from qtasks.monitor.text import percent, shown, when

STATUSES = [s.value for s in TaskStatusEnum]
#: Statuses a task can still be cancelled in.
CANCELLABLE = {TaskStatusEnum.NEW.value, TaskStatusEnum.PROCESS.value}
COUNTS = COUNT_FIELDS
#: The queues page's window, in minutes.
MINUTES = 60
PAGE_SIZE = 50
#: Django 6's admin marks breadcrumbs up as a list and nests a change list's filters in its
#: form container; Django 5.2's has links in a div and the filters after the container.
_DJANGO6 = django.VERSION >= (6, 0)

View = Callable[..., HttpResponse]


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        return default
    return min(max(number, low), high)


class _Problem(Exception):
    """A request the page cannot serve: shown as the page's error, with a status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _page(view: View) -> View:
    """The broker's or the configuration's errors as an admin page (503), not a crash."""

    @functools.wraps(view)
    def wrapped(self: AdminPages, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return view(self, request, *args, **kwargs)
        except (QTasksError, ImproperlyConfigured) as exc:
            return self.render(
                request,
                "error",
                "qtasks: the broker cannot be read",
                {"error": f"{type(exc).__name__}: {exc}"},
                status=503,
                alias=kwargs.get("alias"),
            )
        except _Problem as problem:
            return self.render(
                request,
                "error",
                "qtasks",
                {"error": str(problem)},
                status=problem.status,
                alias=kwargs.get("alias"),
            )

    return wrapped


class AdminPages:
    """The qtasks pages of one admin site."""

    def __init__(self, site: Any) -> None:
        self.site = site

    def urls(self) -> list[Any]:
        def wrap(view: View) -> View:
            return self.site.admin_view(view)  # type: ignore[no-any-return]

        return [
            path("", wrap(self.index), name="qtasks_index"),
            path("<str:alias>/", wrap(self.queues), name="qtasks_queues"),
            path("<str:alias>/results/", wrap(self.results), name="qtasks_results"),
            path("<str:alias>/results/<str:ident>/", wrap(self.result), name="qtasks_result"),
            path(
                "<str:alias>/results/<str:ident>/cancel/",
                wrap(self.cancel),
                name="qtasks_cancel",
            ),
            path("<str:alias>/dead/", wrap(self.dead), name="qtasks_dead"),
            path("<str:alias>/dead/act/", wrap(self.dead_act), name="qtasks_dead_act"),
        ]

    # helpers ---------------------------------------------------------------------------

    def url(self, view: str, *args: str) -> str:
        name = self.site.name
        return str(reverse(f"{name}:qtasks_{view}", args=args, current_app=name))

    def backend(self, alias: str) -> Any:
        try:
            return lookups.backend_named(alias)
        except LookupError as exc:
            raise Http404(str(exc)) from None

    def render(
        self,
        request: HttpRequest,
        template: str,
        title: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        alias: str | None = None,
        crumbs: Iterable[tuple[str, str | None]] = (),
        crumb: str | None = None,
    ) -> TemplateResponse:
        """``crumb``: the page's own breadcrumb (default: its title)."""
        request.current_app = self.site.name
        aliases = list(lookups.qtasks_backends())
        trail: list[tuple[str, str | None]] = []
        if template != "index":
            trail.append(("qtasks", self.url("index")))
        if alias is not None and alias in aliases:
            trail.append((alias, self.url("queues", alias)))
            context.update(
                alias=alias,
                tabs=[
                    ("queues", "Queues", self.url("queues", alias)),
                    ("results", "Task results", self.url("results", alias)),
                    ("dead", "Dead letters", self.url("dead", alias)),
                ],
                others=[(a, self.url("queues", a)) for a in aliases if a != alias],
            )
        trail += list(crumbs)
        trail.append((crumb or title, None))
        return TemplateResponse(
            request,
            f"qtasks/admin/{template}.html",
            {
                **self.site.each_context(request),
                "title": title,
                "crumbs": trail,
                "django6": _DJANGO6,
                "home_url": reverse(f"{self.site.name}:index", current_app=self.site.name),
                **context,
            },
            status=status,
        )

    # pages -----------------------------------------------------------------------------

    @_page
    def index(self, request: HttpRequest) -> HttpResponse:
        backends = lookups.qtasks_backends()
        if len(backends) == 1:
            return redirect(self.url("queues", next(iter(backends))))
        rows = [
            {
                "alias": alias,
                "broker": broker_of(backend),
                "queues": ", ".join(sorted(backend.queues)),
                "url": self.url("queues", alias),
            }
            for alias, backend in backends.items()
        ]
        return self.render(request, "index", "qtasks", {"backends": rows})

    @_page
    def queues(self, request: HttpRequest, alias: str) -> HttpResponse:
        app = self.backend(alias).app
        overview = Monitor(app).overview(minutes=MINUTES)
        queues = [
            {
                "name": view.name,
                "depth": view.depth,
                "totals": [(what, view.total(what)) for what in COUNTS],
                "rate": percent(view.failure_rate),
                "chart": chart(view),
            }
            for view in overview.queues
        ]
        states = {"alive": 0, "stopped": 0, "dead": 0}
        for worker in overview.workers:
            states[worker.state] = states.get(worker.state, 0) + 1
        workers = [
            {
                "view": w,
                "queues": ", ".join(w.info.queues),
                "running": f"{len(w.info.running)}/{w.info.concurrency}",
                "started": when(w.info.started_at),
                "last_seen": when(w.info.last_seen),
            }
            for w in overview.workers
        ]
        failures = self._rows(app, list(overview.failures), alias)
        return self.render(
            request,
            "queues",
            f"qtasks {alias}: queues",
            {
                "broker": display_url(app.broker_url),
                "results_url": self.url("results", alias),
                "taken_at": when(overview.taken_at),
                "counts": [(s, overview.counts.get(s, 0)) for s in STATUSES],
                "queues": queues,
                "minutes": MINUTES,
                "states": list(states.items()),
                "workers": workers,
                "failures": failures,
                "qtasks_page": "queues",
            },
            alias=alias,
            crumb="Queues",
        )

    def _rows(self, app: Any, tasks: list[Task], alias: str) -> list[dict[str, Any]]:
        """Tasks as table rows, each with its Django result id and its page's URL."""
        return [
            {
                "task": task,
                "django_id": django_id,
                "url": self.url("result", alias, str(task.uuid)),
                "created": when(task.created_at),
                "finished": when(task.finished_at),
                "error": error_line(task) if task.status == "error" else task.cancel_reason,
            }
            for task, django_id in app._sync(lookups.with_django_ids(app, tasks))
        ]

    @_page
    def results(self, request: HttpRequest, alias: str) -> HttpResponse:
        backend = self.backend(alias)
        app = backend.app
        params = request.GET
        wanted = params.get("id", "").strip()
        if wanted:
            try:
                return redirect(self.url("result", alias, task_id(wanted)))
            except ValueError as exc:
                messages.error(request, str(exc))
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise _Problem(f"unknown status {status!r}; statuses: {', '.join(STATUSES)}", 400)
        queue = params.get("queue") or None
        task_name = params.get("task", "").strip() or None
        limit = _int(params.get("limit"), PAGE_SIZE, 1, min(500, MAX_LIMIT))
        before = params.get("before") or None
        if before is not None:
            try:
                before = task_id(before)
            except ValueError as exc:
                raise _Problem(str(exc), 400) from None
        found = Monitor(app).tasks(
            status=status, queue=queue, task_name=task_name, limit=limit, before=before
        )
        kept = {"status": status, "queue": queue, "task": task_name}
        if limit != PAGE_SIZE:
            kept["limit"] = str(limit)

        def link(**changes: str | None) -> str:
            query = {k: v for k, v in {**kept, **changes}.items() if v}
            return "?" + urlencode(query)

        queue_names = sorted({*backend.queues, *app._default_queues()})
        if queue is not None and queue not in queue_names:
            queue_names.append(queue)
        filters = [
            (
                "status",
                [("All", link(status=None), status is None)]
                + [(s, link(status=s), s == status) for s in STATUSES],
            ),
            (
                "queue",
                [("All", link(queue=None), queue is None)]
                + [(q, link(queue=q), q == queue) for q in queue_names],
            ),
        ]
        return self.render(
            request,
            "results",
            f"qtasks {alias}: task results",
            {
                "rows": self._rows(app, found, alias),
                "filters": filters,
                "filtered": any(kept.get(k) for k in ("status", "queue", "task")),
                "clear": link(status=None, queue=None, task=None),
                "task_name": task_name or "",
                "hidden": [(k, v) for k, v in kept.items() if v and k != "task"],
                "first_page": link() if before else None,
                "next_page": link(before=str(found[-1].uuid)) if len(found) == limit else None,
                "qtasks_page": "results",
            },
            alias=alias,
            crumb="Task results",
        )

    @_page
    def result(self, request: HttpRequest, alias: str, ident: str) -> HttpResponse:
        app = self.backend(alias).app
        located = self._locate(app, ident)
        detail, last = located.detail, located.last
        task = detail.task
        chain = [
            {
                "n": n,
                "task": step,
                "url": self.url("result", alias, str(step.uuid)),
                "current": step.uuid == task.uuid,
                "started": when(step.started_at),
                "finished": when(step.finished_at),
                "error": error_line(step) if step.status in ("error", "retry") else "",
            }
            for n, step in enumerate(detail.chain, 1)
        ]
        fields = [
            ("Django result id", located.django_id),
            ("Django status", django_status(last)),
            ("qtasks uuid", str(task.uuid)),
            ("status", task.status),
            ("task", task.task_name),
            ("queue", task.queue),
            ("priority", task.priority),
            ("args", shown(list(task.args))),
            ("kwargs", shown(task.kwargs)),
            ("attempt", task.attempt),
            ("workers", ", ".join(detail.worker_ids)),
            ("created", when(task.created_at)),
            ("started", when(task.started_at)),
            ("finished", when(task.finished_at)),
            ("result", shown(task.returning) if task.status == "success" else None),
            ("error", detail.error_type),
            ("cancelled", task.cancel_reason),
        ]
        return self.render(
            request,
            "result",
            f"Task result {located.django_id}",
            {
                "fields": [(label, value) for label, value in fields if value not in (None, "")],
                "chain": chain if len(chain) > 1 else [],
                "traceback": task.traceback,
                "last": last,
                "last_is_shown": last.uuid == task.uuid,
                "last_url": self.url("result", alias, str(last.uuid)),
                "cancellable": last.status in CANCELLABLE,
                "is_dead": last.status == TaskStatusEnum.ERROR.value,
                "cancel_url": self.url("cancel", alias, located.django_id),
                "act_url": self.url("dead_act", alias),
                "qtasks_page": "result",
            },
            alias=alias,
            crumbs=[("Task results", self.url("results", alias))],
            crumb=located.django_id,
        )

    def _locate(self, app: Any, ident: str) -> lookups.Located:
        try:
            located = app._sync(lookups.locate(app, ident))
        except ValueError:
            raise Http404(f"{ident!r} is not a task id") from None
        if located is None:
            raise Http404(f"no task {ident} (unknown, or its record expired)")
        return located  # type: ignore[no-any-return]

    @_page
    def dead(self, request: HttpRequest, alias: str) -> HttpResponse:
        app = self.backend(alias).app
        task_name = request.GET.get("task", "").strip() or None
        queue = request.GET.get("queue", "").strip() or None
        limit = _int(request.GET.get("limit"), 100, 1, 1000)
        found = app._sync(lookups.dead_letters(app, task_name=task_name, queue=queue, limit=limit))
        rows = [
            {
                "task": d.task,
                "django_id": d.django_id,
                "url": self.url("result", alias, str(d.task.uuid)),
                "failed": when(d.task.finished_at),
                "error": error_line(d.task),
            }
            for d in found
        ]
        return self.render(
            request,
            "dead",
            f"qtasks {alias}: dead letters",
            {
                "rows": rows,
                "task_name": task_name or "",
                "queue": queue or "",
                "limited": len(found) == limit,
                "act_url": self.url("dead_act", alias),
                "qtasks_page": "dead",
            },
            alias=alias,
            crumb="Dead letters",
        )

    # actions (POST) --------------------------------------------------------------------

    @_page
    def cancel(self, request: HttpRequest, alias: str, ident: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        app = self.backend(alias).app
        located = self._locate(app, ident)
        reason = request.POST.get("reason", "").strip()[:500]
        reason = reason or f"cancelled in Django's admin by {request.user.get_username()}"
        state = app._sync(app._cancel(str(located.last.uuid), reason))
        messages.info(request, f"Cancel {located.last.uuid}: {state.value}.")
        return HttpResponseRedirect(self.url("result", alias, located.django_id))

    @_page
    def dead_act(self, request: HttpRequest, alias: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        app = self.backend(alias).app
        form = request.POST
        action = form.get("action")
        back = self._back(alias, form, to_result=action == "requeue")
        if action not in ("requeue", "purge"):
            messages.error(request, "Choose an action: requeue or purge.")
            return HttpResponseRedirect(back)
        if form.get("scope") == "matching":  # every dead letter of the list's filters
            if form.get("confirm") != "1":
                messages.error(request, f"Tick the box to {action} every matching dead letter.")
                return HttpResponseRedirect(back)
            task_name = form.get("task", "").strip() or None
            queue = form.get("queue", "").strip() or None
            query = DeadLetterQuery(task_name=task_name, queues=None if queue is None else (queue,))
        else:
            idents = [v.strip() for v in form.getlist("id") if v.strip()]
            if not idents:
                messages.error(request, "Select dead letters first.")
                return HttpResponseRedirect(back)
            try:
                found, unknown = app._sync(lookups.last_attempts(app, idents))
            except ValueError as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(back)
            for ident in unknown:
                messages.warning(request, f"No task {ident} (unknown, or its record expired).")
            if not found:
                return HttpResponseRedirect(back)
            query = DeadLetterQuery(ids=tuple(found))
        if action == "requeue":
            count = app._sync(app._client.requeue_dead(query))
            messages.success(request, f"Requeued {count} dead letter(s).")
        else:
            count = app._sync(app._client.purge_dead(query))
            messages.success(request, f"Purged {count} dead letter(s).")
        return HttpResponseRedirect(back)

    def _back(self, alias: str, form: Any, *, to_result: bool) -> str:
        """Where an action returns: the result page it came from (unless the result is
        gone), else the dead letters (with the list's filters)."""
        result = form.get("back_result", "").strip()
        if result and to_result:
            try:
                return self.url("result", alias, task_id(result))
            except ValueError:
                pass
        kept = {k: form.get(f"list_{k}", "").strip() for k in ("task", "queue")}
        query = urlencode({k: v for k, v in kept.items() if v})
        return self.url("dead", alias) + (f"?{query}" if query else "")


__all__ = ["AdminPages"]
