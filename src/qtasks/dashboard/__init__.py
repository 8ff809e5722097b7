"""The web dashboard (extra ``dashboard``): queues, throughput, workers, tasks, dead
letters, schedules; cancel, requeue and purge. A Starlette ASGI app over
:mod:`qtasks.monitor` (and :mod:`qtasks.schedule.listing`), served by
``qtasks -A mod:app dashboard`` (uvicorn) or mounted in your own ASGI app::

    from qtasks.dashboard import asgi
    starlette_app.mount("/qtasks", asgi(app, token="..."))

Safe by default: the command binds 127.0.0.1 and refuses any other address without
``auth="user:password"`` or ``token=``; actions are CSRF-checked POSTs; every value is
escaped. Live updates poll small HTML fragments (no full reload).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qtasks.dashboard.metrics import metrics_endpoint
from qtasks.dashboard.security import Access, Guard, is_loopback
from qtasks.dashboard.views import HERE, Views, templates


def asgi(app: Any, *, auth: str | None = None, token: str | None = None) -> Guard:
    """The dashboard of ``app`` (``qtasks.QueueTasks`` or ``qtasks.asyncio.QueueTasks``)
    as an ASGI app. ``auth``: ``"user:password"`` (HTTP Basic); ``token``: a bearer token
    (``Authorization: Bearer``, or ``?token=`` once). Neither: open (loopback use)."""
    access = Access.parse(auth, token)
    views = Views(app)
    routes = [
        Route("/", views.overview, name="overview"),
        Route("/fragments/overview", views.overview_fragment, name="overview_fragment"),
        Route("/api/overview", views.overview_json, name="overview_json"),
        Route("/api/throughput", views.throughput_json, name="throughput_json"),
        Route("/tasks", views.tasks, name="tasks"),
        Route("/fragments/tasks", views.tasks_fragment, name="tasks_fragment"),
        Route("/api/tasks", views.tasks_json, name="tasks_json"),
        Route("/tasks/{id}", views.task, name="task"),
        Route("/fragments/tasks/{id}", views.task_fragment, name="task_fragment"),
        Route("/api/tasks/{id}", views.task_json, name="task_json"),
        Route("/tasks/{id}/cancel", views.cancel, methods=["POST"], name="cancel"),
        Route("/dead", views.dead, name="dead"),
        Route("/dead/requeue", views.requeue, methods=["POST"], name="requeue"),
        Route("/dead/purge", views.purge, methods=["POST"], name="purge"),
        Route("/schedules", views.schedules, name="schedules"),
        Route("/fragments/schedules", views.schedules_fragment, name="schedules_fragment"),
        Route("/api/schedules", views.schedules_json, name="schedules_json"),
        Route("/health", views.health, name="health"),
        Route("/metrics", metrics_endpoint(views.monitor), name="metrics"),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def error_page(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        path = request.url.path
        if "/api/" in path:
            return JSONResponse({"error": detail}, status_code=status)
        if "/fragments/" in path:
            return PlainTextResponse(detail, status_code=status)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "detail": detail, "app_name": app.name, "notice": ""},
            status_code=status,
        )

    starlette = Starlette(routes=routes, exception_handlers={HTTPException: error_page})
    return Guard(starlette, access)


def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8800,
    auth: str | None = None,
    token: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve the dashboard with uvicorn until Ctrl-C. A bind beyond this machine needs
    ``auth`` or ``token`` (``ValueError`` otherwise)."""
    import uvicorn

    if not is_loopback(host) and auth is None and token is None:
        raise ValueError(
            f"the dashboard would be open to anyone who reaches {host}:{port}: give "
            "--auth user:password or --token TOKEN, or bind 127.0.0.1"
        )
    uvicorn.run(
        asgi(app, auth=auth, token=token),
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
    )


__all__ = ["asgi", "serve"]
