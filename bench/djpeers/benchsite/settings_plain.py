"""The ``plain`` peer (a plain qtasks app, no Django backend): only what importing
``benchtasks.tasks`` needs, Django's ``Task`` objects being validated against a backend.
Django's dummy backend, which nothing enqueues to: the tasks go through ``plainapp.app``."""

from __future__ import annotations

from benchsite.settings_base import *  # noqa: F403

TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
