"""Django integration: find the tasks declared by the installed Django applications.

``autodiscover_tasks(app)`` imports ``<app>.tasks`` (or the submodules named in
``modules``) of every application in Django's app registry and registers every task
those modules declare on ``app``. Call it from an ``AppConfig.ready()`` or after
``django.setup()``::

    # myproject/qtasks_app.py
    from qtasks import QueueTasks

    app = QueueTasks()

    # myproject/apps.py (an application listed in INSTALLED_APPS)
    from django.apps import AppConfig

    class MyProjectConfig(AppConfig):
        name = "myproject"

        def ready(self) -> None:
            from qtasks.contrib.django import autodiscover_tasks

            from myproject.qtasks_app import app

            autodiscover_tasks(app)

Importing this package does not import Django.
"""

from qtasks.contrib.django.discovery import AppsNotReadyError, autodiscover_tasks

__all__ = ["AppsNotReadyError", "autodiscover_tasks"]
