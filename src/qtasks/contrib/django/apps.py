"""``"qtasks.contrib.django"`` in ``INSTALLED_APPS`` provides ``manage.py qtasks_worker``,
``qtasks_status``, ``qtasks_dead`` and ``qtasks_cancel``, the templates of qtasks' admin pages
(see :mod:`qtasks.contrib.django.admin`) and the deployment check ``qtasks.E003``."""

from __future__ import annotations

import contextlib

from django.apps import AppConfig


class QTasksConfig(AppConfig):  # type: ignore[misc]
    name = "qtasks.contrib.django"
    label = "qtasks"
    verbose_name = "qtasks"

    def ready(self) -> None:
        # Registers the deployment check qtasks.E003 (the broker answers) before any
        # TASKS backend is loaded: Django lists the checks before it runs the first one.
        with contextlib.suppress(ImportError):  # Django 5.2 without django-tasks: no backends
            from qtasks.contrib.django import backend  # noqa: F401
