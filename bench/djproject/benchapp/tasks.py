"""The Django task the benchmark enqueues and drains: ``djproject.benchapp.tasks.noop``."""

from __future__ import annotations

try:
    from django.tasks import task  # Django 6.x
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task


@task  # type: ignore[untyped-decorator]
def noop(i: int) -> int:
    """Sync no-op, the counterpart of ``bench_app.noop``: runs on the worker's thread pool."""
    return i
