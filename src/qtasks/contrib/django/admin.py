"""qtasks' pages in Django's admin: queues, task results, dead letters (staff only).

qtasks keeps its results in its broker, not in Django's database, so these pages have no
model: an admin site with :class:`QTasksAdminSiteMixin` serves them under
``<admin>/qtasks/`` and lists them on its index and in its sidebar. For the default
``admin.site``, replace ``"django.contrib.admin"`` in ``INSTALLED_APPS``::

    INSTALLED_APPS = [
        "qtasks.contrib.django.admin.QTasksAdminConfig",  # instead of "django.contrib.admin"
        ...,
        "qtasks.contrib.django",
    ]

and keep ``path("admin/", admin.site.urls)`` in the URLconf. A project with its own
``AdminSite`` subclass adds the mixin to it instead::

    class MyAdminSite(QTasksAdminSiteMixin, admin.AdminSite): ...
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import include, path, reverse


class QTasksAdminSiteMixin:
    """Adds qtasks' pages to an ``AdminSite``: URLs under ``qtasks/``, an index entry."""

    #: The entry's name on the admin index.
    qtasks_label = "qtasks"

    def get_urls(self) -> list[Any]:
        from qtasks.contrib.django.admin_views import AdminPages

        pages = AdminPages(self)
        return [path("qtasks/", include(pages.urls())), *super().get_urls()]  # type: ignore[misc]

    def get_app_list(self, request: Any, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list: list[dict[str, Any]] = super().get_app_list(  # type: ignore[misc]
            request, app_label
        )
        if app_label not in (None, "qtasks") or not self.has_permission(request):  # type: ignore[attr-defined]
            return app_list
        entry = self._qtasks_entry()
        if entry is not None:
            app_list = sorted([*app_list, entry], key=lambda app: str(app["name"]).lower())
        return app_list

    def _qtasks_entry(self) -> dict[str, Any] | None:
        """The app-list entry (no broker call: the index and every sidebar show it)."""
        from qtasks.contrib.django.lookups import qtasks_backends

        aliases = list(qtasks_backends())
        if not aliases:
            return None
        name = self.name  # type: ignore[attr-defined]

        def url(view: str, *args: str) -> str:
            return str(reverse(f"{name}:qtasks_{view}", args=args, current_app=name))

        if len(aliases) == 1:
            alias = aliases[0]
            rows = [
                ("Queues", "queue", url("queues", alias)),
                ("Task results", "result", url("results", alias)),
                ("Dead letters", "deadletter", url("dead", alias)),
            ]
        else:  # one row per backend; each page links to the backend's other pages
            rows = [(f"Backend {a!r}", f"backend_{a}", url("queues", a)) for a in aliases]
        return {
            "name": self.qtasks_label,
            "app_label": "qtasks",
            "app_url": url("index"),
            "has_module_perms": True,
            "models": [
                {
                    "name": label,
                    "object_name": object_name,
                    "perms": {"add": False, "change": False, "delete": False, "view": True},
                    "admin_url": admin_url,
                    "add_url": None,
                    "view_only": True,
                }
                for label, object_name, admin_url in rows
            ],
        }


class QTasksAdminSite(QTasksAdminSiteMixin, admin.AdminSite):  # type: ignore[misc]
    """Django's admin site with qtasks' pages."""


class QTasksAdminConfig(AdminConfig):  # type: ignore[misc]
    """``django.contrib.admin`` whose default site is :class:`QTasksAdminSite`."""

    default_site = "qtasks.contrib.django.admin.QTasksAdminSite"


__all__ = ["QTasksAdminConfig", "QTasksAdminSite", "QTasksAdminSiteMixin"]
