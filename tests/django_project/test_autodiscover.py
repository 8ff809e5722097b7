"""autodiscover_tasks in this process, against the applications of ``settings.py``.

Django is set up by this folder's conftest. Task modules are imported once per process,
so these tests hold whatever the order they run in (the ones needing a process where
nothing was imported yet are in ``test_processes.py``).
"""

from __future__ import annotations

import importlib
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import pytest

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.contrib.django import autodiscover_tasks
from qtasks.tasks import AsyncTask, SyncTask
from qtasks.testing import drain
from tests.django_project import project

HERE = Path(__file__).resolve().parent
DJAPPS = "tests.django_project.djapps"
ALPHA = f"{DJAPPS}.alpha"
BETA = f"{DJAPPS}.beta"

#: What the ``tasks`` modules of alpha and beta declare.
TASKS_SHARED = {"djdisc.alpha.shared", "djdisc.beta.shared"}
TASKS_OTHER = {
    "djdisc.alpha.routed",
    "djdisc.alpha.on_project",
    "djdisc.alpha.on_own_app",
    "djdisc.beta.routed",
    "djdisc.beta.on_own_app",
}
TASKS = TASKS_SHARED | TASKS_OTHER
#: What the ``jobs`` modules declare (beta's ``jobs`` is a package with a submodule).
JOBS_SHARED = {"djdisc.alpha.jobs.shared"}
JOBS_OTHER = {"djdisc.alpha.jobs.routed", "djdisc.beta.jobs.nightly", "djdisc.beta.jobs.report"}
JOBS = JOBS_SHARED | JOBS_OTHER


def new_app() -> QueueTasks:
    return QueueTasks(broker_url=f"memory://djdisc-{uuid.uuid4().hex}")


def module(name: str) -> Any:
    return importlib.import_module(name)


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_shared_tasks_are_registered() -> None:
    app = new_app()
    autodiscover_tasks(app)
    assert app.tasks["djdisc.alpha.shared"] is module(f"{ALPHA}.tasks").alpha_shared
    beta_shared = module(f"{BETA}.tasks").beta_shared
    assert app.tasks["djdisc.beta.shared"] is beta_shared
    assert isinstance(beta_shared, AsyncTask)


def test_router_tasks_are_registered_without_including_the_router() -> None:
    app = new_app()
    autodiscover_tasks(app)
    assert app.tasks["djdisc.alpha.routed"] is module(f"{ALPHA}.tasks").alpha_routed
    assert app.tasks["djdisc.beta.routed"] is module(f"{BETA}.tasks").beta_routed


def test_tasks_declared_with_the_passed_app_itself() -> None:
    autodiscover_tasks(project.app)
    on_project = module(f"{ALPHA}.tasks").alpha_on_project
    assert project.app.tasks["djdisc.alpha.on_project"] is on_project
    assert on_project.app is project.app
    assert set(project.app.tasks) >= TASKS  # and everything else the modules declare


def test_tasks_declared_on_another_queuetasks_created_in_the_module() -> None:
    app = new_app()
    autodiscover_tasks(app)
    alpha, beta = module(f"{ALPHA}.tasks"), module(f"{BETA}.tasks")
    assert app.tasks["djdisc.alpha.on_own_app"] is alpha.alpha_on_own_app
    assert app.tasks["djdisc.beta.on_own_app"] is beta.beta_on_own_app
    # The module's own app is left alone: it does not get the router's tasks.
    assert "djdisc.alpha.routed" not in alpha.own_app.tasks


def test_async_app() -> None:
    app = qtasks.asyncio.QueueTasks(broker_url=f"memory://djdisc-{uuid.uuid4().hex}")
    autodiscover_tasks(app)
    assert set(app.tasks) >= TASKS
    assert isinstance(app.tasks["djdisc.alpha.routed"], SyncTask)  # handles keep their kind


def test_discovered_tasks_run_through_the_passed_app() -> None:
    app = new_app()
    autodiscover_tasks(app)
    added = app.add_task("djdisc.alpha.routed", 2, 3)
    shouted = app.add_task("djdisc.beta.routed", "hi")
    assert added is not None and shouted is not None
    assert drain(app) == 2
    done_added, done_shouted = app.get(added.uuid), app.get(shouted.uuid)
    assert done_added is not None and done_added.returning == 5
    assert done_shouted is not None and done_shouted.returning == "HI"


def test_every_app_passed_gets_the_tasks_and_each_module_is_imported_once() -> None:
    first, second = new_app(), new_app()
    autodiscover_tasks(first)
    autodiscover_tasks(second)
    assert set(first.tasks) >= TASKS and set(second.tasks) >= TASKS
    assert all(first.tasks[name] is second.tasks[name] for name in TASKS)
    assert project.imports.count(f"{ALPHA}.tasks") == 1
    assert project.imports.count(f"{BETA}.tasks") == 1


def test_calling_it_twice_is_harmless() -> None:
    app = new_app()
    autodiscover_tasks(app)
    registered = dict(app.tasks)
    autodiscover_tasks(app)
    autodiscover_tasks(app, ["tasks", "tasks"])
    assert app.tasks == registered
    assert all(app.tasks[name] is handle for name, handle in registered.items())


def test_each_app_gets_only_the_tasks_of_its_own_modules() -> None:
    tasks_app, jobs_app = new_app(), new_app()
    autodiscover_tasks(tasks_app, ["tasks"])
    autodiscover_tasks(jobs_app, modules=["jobs"])
    assert set(tasks_app.tasks) >= TASKS
    assert set(jobs_app.tasks) >= JOBS
    # Shared tasks also go to every app created after them (shared_task's own rule),
    # so here only the others are compared; test_processes checks shared ones too.
    assert not set(tasks_app.tasks) & JOBS_OTHER
    assert not set(jobs_app.tasks) & TASKS_OTHER


def test_tasks_package_submodules_are_included() -> None:
    app = new_app()
    autodiscover_tasks(app, ["jobs"])
    assert app.tasks["djdisc.beta.jobs.nightly"] is module(f"{BETA}.jobs").nightly
    assert app.tasks["djdisc.beta.jobs.report"] is module(f"{BETA}.jobs.reports").report


def test_applications_not_installed_are_never_imported() -> None:
    app = new_app()
    autodiscover_tasks(app, ["tasks", "jobs"])
    assert f"{DJAPPS}.outsider" not in sys.modules
    assert f"{DJAPPS}.outsider.tasks" not in sys.modules
    assert "djdisc.outsider.task" not in app.tasks


def test_missing_submodules_are_skipped() -> None:
    app = new_app()
    before = dict(app.tasks)
    autodiscover_tasks(
        app,
        [
            "no_such_module",  # in no application (gamma and contenttypes have no tasks either)
            "no_such_package.tasks",  # the parent package is missing
            "tasks.not_a_package",  # the parent is a module, not a package
            "jobs.no_such_submodule",  # the parent package exists, the submodule doesn't
        ],
    )
    assert app.tasks == before
    assert f"{DJAPPS}.gamma.tasks" not in sys.modules
    assert f"{ALPHA}.no_such_package" not in sys.modules


def test_a_module_missing_a_dependency_raises_its_own_import_error() -> None:
    app = new_app()
    for _ in range(2):  # not remembered as "skipped" either
        with pytest.raises(ModuleNotFoundError) as info:
            autodiscover_tasks(app, ["broken_import"])
        assert info.value.name == "qtasks_djdisc_missing_dependency"
        text = traceback_text(info.value)
        assert str(HERE / "djapps" / "alpha" / "broken_import.py") in text
        assert "import qtasks_djdisc_missing_dependency" in text
        assert f"autodiscover_tasks() imported '{ALPHA}.broken_import'" in text
    assert "djdisc.alpha.never" not in app.tasks


def test_a_parent_package_failing_to_import_raises_and_is_not_skipped() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        autodiscover_tasks(new_app(), ["brokenpkg.tasks"])
    assert info.value.name == "qtasks_djdisc_missing_parent_dependency"
    assert str(HERE / "djapps" / "alpha" / "brokenpkg" / "__init__.py") in traceback_text(
        info.value
    )


def test_a_module_raising_while_imported_raises_with_its_traceback() -> None:
    with pytest.raises(RuntimeError, match=r"gamma\.broken_runtime failed at import") as info:
        autodiscover_tasks(new_app(), ["broken_runtime"])
    text = traceback_text(info.value)
    assert str(HERE / "djapps" / "gamma" / "broken_runtime.py") in text
    assert "raise RuntimeError" in text


def test_a_name_taken_by_a_different_task_raises_value_error_naming_the_module() -> None:
    app = new_app()

    @app.task("djdisc.clash")
    def mine() -> str:
        return "mine"

    with pytest.raises(ValueError, match=rf"'djdisc.clash'.*'{ALPHA}.clash'"):
        autodiscover_tasks(app, ["clash"])
    assert app.tasks["djdisc.clash"] is mine


def test_bad_arguments_are_refused() -> None:
    app = new_app()
    with pytest.raises(TypeError, match="QueueTasks"):
        autodiscover_tasks(["tasks"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a string"):
        autodiscover_tasks(app, "tasks")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid submodule name"):
        autodiscover_tasks(app, ["tasks..x"])
    with pytest.raises(ValueError, match="invalid submodule name"):
        autodiscover_tasks(app, [""])


def test_returns_none() -> None:
    assert autodiscover_tasks(new_app()) is None  # type: ignore[func-returns-value]
