"""``autodiscover_tasks``: register the tasks of the installed Django applications on an app.

Django is imported when the function is called, never when this module is imported,
so ``import qtasks.contrib.django`` works without Django installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

from qtasks.app import AppCore
from qtasks.core.errors import ConfigurationError
from qtasks.tasks import declared_in

#: Submodules imported from each Django application when ``modules`` is not given.
DEFAULT_MODULES = ("tasks",)

_NOT_READY = (
    "autodiscover_tasks() needs Django's applications to be loaded: call it from an "
    "AppConfig.ready() method, or after django.setup() in a standalone script"
)


class AppsNotReadyError(ConfigurationError):
    """``autodiscover_tasks`` was called before Django's app registry was ready."""


def autodiscover_tasks(app: AppCore[Any], modules: list[str] | None = None) -> None:
    """Import ``<application>.<module>`` for every installed Django application and each
    name in ``modules`` (default ``["tasks"]``), and register on ``app`` every task those
    modules declare.

    Registered are the tasks declared with ``@app.task`` (on this or any other
    ``QueueTasks``), on a router, or with ``shared_task``, whose function is defined in a
    discovered module (or, when the module is a package, in one of its submodules that is
    imported by then). Only ``app`` is changed: each app gets the tasks of the modules
    discovered for it, and calling this again, or for another app, imports nothing twice.

    A module that does not exist (nor its parent package) is skipped. A module that exists
    but fails to import raises its own exception, with its traceback. A task whose name is
    already taken on ``app`` by a different task raises ``ValueError`` naming its module.

    :param app: the ``qtasks.QueueTasks`` or ``qtasks.asyncio.QueueTasks`` to register on.
    :param modules: submodule names to look for in each application (``"tasks"``,
        ``"jobs"``, ``"tasks.periodic"``, ...).
    :raises AppsNotReadyError: Django's applications are not loaded yet (call it from
        ``AppConfig.ready()`` or after ``django.setup()``).
    :raises ModuleNotFoundError: Django is not installed.
    """
    if not isinstance(app, AppCore):
        raise TypeError(
            f"autodiscover_tasks() expects a QueueTasks app as first argument, got {app!r}"
        )
    names = list(DEFAULT_MODULES) if modules is None else _checked_names(modules)
    for package in _installed_app_packages():
        for name in names:
            module_name = f"{package}.{name}"
            if not _exists(module_name):
                continue
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                exc.add_note(
                    f"raised while autodiscover_tasks() imported {module_name!r} "
                    f"(Django application {package!r})"
                )
                raise
            for declaring in _declaring_modules(module_name, module):
                _register_declared(app, declaring)


def _checked_names(modules: Any) -> list[str]:
    if isinstance(modules, str):
        raise TypeError(
            f"modules must be a list of submodule names such as [{modules!r}], not a string"
        )
    names = list(modules)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"modules must contain submodule names (str), got {name!r}")
        if not name or any(not part for part in name.split(".")):
            raise ValueError(f"invalid submodule name {name!r} in modules")
    return names


def _installed_app_packages() -> list[str]:
    """The dotted names of Django's installed applications, in ``INSTALLED_APPS`` order."""
    try:
        registry = importlib.import_module("django.apps").apps
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "django":
            raise ModuleNotFoundError(
                "qtasks.contrib.django.autodiscover_tasks() needs Django: pip install django",
                name="django",
            ) from exc
        raise
    errors = importlib.import_module("django.core.exceptions")
    try:
        configs = registry.get_app_configs()
    except (errors.AppRegistryNotReady, errors.ImproperlyConfigured) as exc:
        raise AppsNotReadyError(f"{_NOT_READY} ({exc})") from exc
    if not registry.models_ready:  # tasks modules import models: they must be loaded too
        raise AppsNotReadyError(f"{_NOT_READY} (Django's models aren't loaded yet)")
    return [str(config.name) for config in configs]


def _exists(module_name: str) -> bool:
    """Whether ``module_name`` exists; False when it or one of its parent packages doesn't.

    Parent packages are imported to look inside them: an error raised by a parent that
    exists propagates, as does anything but the module itself being absent.
    """
    if sys.modules.get(module_name) is not None:
        return True
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError as exc:
        missing = exc.name
        if missing is not None and (module_name + ".").startswith(missing + "."):
            return False  # the module, or a parent package of it, does not exist
        raise


def _declaring_modules(module_name: str, module: Any) -> list[str]:
    """The module and, for a package, its submodules imported so far (sorted)."""
    if not hasattr(module, "__path__"):
        return [module_name]
    prefix = module_name + "."
    return [module_name, *sorted(name for name in list(sys.modules) if name.startswith(prefix))]


def _register_declared(app: AppCore[Any], module_name: str) -> None:
    for handle in declared_in(module_name):
        try:
            app.register(handle)
        except ValueError as exc:
            message = f"{exc} (task {handle.task_name!r} declared in module {module_name!r})"
            if type(exc) is ValueError:
                raise ValueError(message) from exc
            exc.add_note(message)
            raise
