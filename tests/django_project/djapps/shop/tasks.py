"""Django tasks, declared with Django's own decorator, run by qtasks workers."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task


class Flaky(Exception):
    """Raised by ``flaky`` until its third attempt."""


@task
def add(a: int, b: int) -> int:
    return a + b


@task(priority=5, queue_name="emails")
def send_mail(to: str) -> str:
    return f"sent to {to}"


@task
def record_order(path: str, label: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(label + "\n")


@task(takes_context=True)
def with_context(context: Any, x: int) -> dict[str, Any]:
    result = context.task_result
    return {"attempt": context.attempt, "id": result.id, "workers": result.worker_ids, "x": x}


@task
def fails() -> None:
    raise ValueError("boom")


@task
def returns_object() -> Any:
    return object()


@task
async def aadd(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@task
def slow(marker: str, seconds: float) -> str:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return "done"


@task(backend="retrying")
def flaky(counter: str) -> int:
    path = Path(counter)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    if count < 3:
        raise Flaky(f"attempt {count}")
    return count


@task(backend="retrying")
def too_slow() -> None:
    time.sleep(10)
