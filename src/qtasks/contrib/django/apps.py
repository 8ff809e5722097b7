"""``"qtasks.contrib.django"`` in ``INSTALLED_APPS`` provides ``manage.py qtasks_worker``."""

from __future__ import annotations

from django.apps import AppConfig


class QTasksConfig(AppConfig):  # type: ignore[misc]
    name = "qtasks.contrib.django"
    label = "qtasks"
    verbose_name = "qtasks"
