"""The dashboard's pages, fragments (for live updates), JSON and actions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from qtasks.brokers.urls import display_url
from qtasks.core.records import DeadLetterQuery
from qtasks.core.status import TaskStatusEnum
from qtasks.dashboard.security import CSRF_FIELD, checked_form
from qtasks.monitor import AsyncMonitor, jsonable, task_id
from qtasks.monitor.text import error_line, percent, shown, when
from qtasks.schedule.listing import schedule_states

HERE = Path(__file__).parent
STATUSES = [s.value for s in TaskStatusEnum]
#: Statuses a task can still be cancelled in.
CANCELLABLE = {TaskStatusEnum.NEW.value, TaskStatusEnum.PROCESS.value}


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(when=when, error_line=error_line, percent=percent, shown=shown)
templates.env.globals.update(CSRF_FIELD=CSRF_FIELD, STATUSES=STATUSES, CANCELLABLE=CANCELLABLE)


class Views:
    """The handlers, bound to one qtasks app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.monitor = AsyncMonitor(app)

    def _page(self, request: Request, name: str, **context: Any) -> Response:
        context.update(
            app_name=self.app.name,
            broker=display_url(self.app.broker_url),
            csrf=request.scope.get("state", {}).get("csrf", ""),
            notice=request.query_params.get("notice", ""),
        )
        return templates.TemplateResponse(request, name, context)

    # overview ----------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        return self._page(request, "overview.html", overview=await self.monitor.overview())

    async def overview_fragment(self, request: Request) -> Response:
        return self._page(request, "_overview.html", overview=await self.monitor.overview())

    async def overview_json(self, request: Request) -> Response:
        return JSONResponse(jsonable(await self.monitor.overview()))

    async def throughput_json(self, request: Request) -> Response:
        """Per-minute series for the chart: every queue summed, or one (``?queue=``)."""
        minutes = _int(request.query_params.get("minutes", "60"), "minutes", 1, 120)
        queue = request.query_params.get("queue") or None
        views = await self.monitor.queues(None if queue is None else [queue], minutes=minutes)
        series: dict[str, list[int]] = {}
        stamps: list[int] = []
        for view in views:
            stamps = [row.minute * 60 for row in view.minutes]
            for what in ("enqueued", "succeeded", "failed", "retried"):
                values = [getattr(row, what) for row in view.minutes]
                into = series.setdefault(what, [0] * len(values))
                series[what] = [a + b for a, b in zip(into, values, strict=True)]
        return JSONResponse({"time": stamps, **series})

    # tasks -------------------------------------------------------------------------------

    def _task_query(self, request: Request) -> dict[str, Any]:
        params = request.query_params
        status = [s for s in params.getlist("status") if s]
        unknown = [s for s in status if s not in STATUSES]
        if unknown:
            raise HTTPException(400, f"unknown status {unknown[0]!r}")
        query: dict[str, Any] = {
            "status": status or None,
            "queue": params.get("queue") or None,
            "task_name": params.get("task") or None,
            "limit": _int(params.get("limit", "50"), "limit", 1, 500),
            "before": params.get("before") or None,
        }
        if query["before"] is not None:
            query["before"] = _task_id(query["before"])
        return query

    async def _tasks_context(self, request: Request) -> dict[str, Any]:
        query = self._task_query(request)
        found = await self.monitor.tasks(**query)
        more = None
        if len(found) == query["limit"]:
            params = {k: v for k, v in request.query_params.multi_items() if k != "before"}
            more = urlencode([*params.items(), ("before", str(found[-1].uuid))])
        return {"tasks": found, "query": query, "more": more, "params": request.query_params}

    async def tasks(self, request: Request) -> Response:
        wanted = request.query_params.get("id", "").strip()
        if wanted:
            return RedirectResponse(request.url_for("task", id=_task_id(wanted)), 303)
        return self._page(request, "tasks.html", **await self._tasks_context(request))

    async def tasks_fragment(self, request: Request) -> Response:
        return self._page(request, "_tasks.html", **await self._tasks_context(request))

    async def tasks_json(self, request: Request) -> Response:
        return JSONResponse(jsonable(await self.monitor.tasks(**self._task_query(request))))

    async def _detail(self, request: Request) -> Any:
        detail = await self.monitor.task(_task_id(request.path_params["id"]))
        if detail is None:
            raise HTTPException(404, "no such task (unknown, or its record expired)")
        return detail

    async def task(self, request: Request) -> Response:
        return self._page(request, "task.html", detail=await self._detail(request))

    async def task_fragment(self, request: Request) -> Response:
        return self._page(request, "_task.html", detail=await self._detail(request))

    async def task_json(self, request: Request) -> Response:
        return JSONResponse(jsonable(await self._detail(request)))

    async def cancel(self, request: Request) -> Response:
        form = await checked_form(request)
        uuid = _task_id(request.path_params["id"])
        reason = str(form.get("reason", "")).strip()[:500] or "cancelled from the dashboard"
        state = await self.app._cancel(uuid, reason)
        return _back(request.url_for("task", id=uuid), f"cancel: {state.value}")

    # dead letters ------------------------------------------------------------------------

    async def dead(self, request: Request) -> Response:
        params = request.query_params
        query = DeadLetterQuery(
            task_name=params.get("task") or None,
            queues=(params["queue"],) if params.get("queue") else None,
            limit=_int(params.get("limit", "100"), "limit", 1, 1000),
        )
        broker = await self.app._client.broker()
        found = [self.app._record(s) for s in await broker.dead_letters(query)]
        return self._page(request, "dead.html", dead=found, params=params)

    async def _dead_query(self, request: Request) -> DeadLetterQuery:
        form = await checked_form(request)
        ids = tuple(_task_id(str(v)) for v in form.getlist("id") if str(v).strip())
        task_name = str(form.get("task", "")).strip() or None
        everything = form.get("all") == "1"
        if not ids and task_name is None and not everything:
            raise HTTPException(400, "choose dead letters: one, a task's, or all")
        if everything and (ids or task_name):
            raise HTTPException(400, "'all' acts on every dead letter: give it alone")
        return DeadLetterQuery(ids=ids or None, task_name=task_name)

    async def requeue(self, request: Request) -> Response:
        count = await self.app._client.requeue_dead(await self._dead_query(request))
        return _back(request.url_for("dead"), f"requeued {count} dead letter(s)")

    async def purge(self, request: Request) -> Response:
        count = await self.app._client.purge_dead(await self._dead_query(request))
        return _back(request.url_for("dead"), f"purged {count} dead letter(s)")

    # schedules ---------------------------------------------------------------------------

    async def _schedules_context(self) -> dict[str, Any]:
        return {"schedules": await schedule_states(self.app), "taken_at": time.time()}

    async def schedules(self, request: Request) -> Response:
        return self._page(request, "schedules.html", **await self._schedules_context())

    async def schedules_fragment(self, request: Request) -> Response:
        return self._page(request, "_schedules.html", **await self._schedules_context())

    async def schedules_json(self, request: Request) -> Response:
        return JSONResponse([s.as_dict() for s in await schedule_states(self.app)])

    # health ------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        ok = await self.app._client.ping()
        return JSONResponse({"broker": "ok" if ok else "down"}, status_code=200 if ok else 503)


def _back(url: Any, notice: str) -> Response:
    return RedirectResponse(f"{url}?{urlencode({'notice': notice})}", status_code=303)


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be an integer") from None
    if not low <= number <= high:
        raise HTTPException(400, f"{name} must be from {low} to {high}")
    return number


def _task_id(value: str) -> str:
    try:
        return task_id(value)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
