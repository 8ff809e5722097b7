"""Configure Django for this folder only, programmatically.

Settings come from ``settings.py`` through ``django.conf.settings.configure()`` when
this conftest is loaded (so only when these tests are collected); no
``DJANGO_SETTINGS_MODULE`` is set, so the other tests, and the worker processes they
start, run as without Django. pytest-django, when installed, sees configured settings
and sets up its test environment as usual.
"""

from __future__ import annotations

import django
from django.apps import apps
from django.conf import settings

from tests.django_project import settings as test_settings


def pytest_configure() -> None:
    if not settings.configured:
        settings.configure(
            **{name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
        )
    if not apps.ready:
        django.setup()
