"""autodiscover_tasks in fresh Python processes: nothing imported yet, other application
lists, Django not set up, Django absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.django_project.test_autodiscover import DJAPPS, JOBS, TASKS

ROOT = Path(__file__).resolve().parents[2]


def ours(names: list[str]) -> set[str]:
    """The names of the tasks these tests' applications declare (other apps may be installed)."""
    return {name for name in names if name.startswith("djdisc.")}


def run_python(
    code: str, *, path: tuple[Path, ...] = (), settings_module: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter, with this repository (and ``path``) importable."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(
        [*(str(p) for p in path), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    if settings_module is not None:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def last_json(result: subprocess.CompletedProcess[str]) -> Any:
    """What the process printed last, as JSON (after checking it succeeded)."""
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_app(root: Path, name: str, files: dict[str, str]) -> None:
    """A Django application package ``name`` under ``root`` with these files."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for filename, text in files.items():
        (package / filename).write_text(textwrap.dedent(text))


def test_apps_created_before_anything_is_imported_get_only_their_modules() -> None:
    result = run_python(
        """
        import json, sys
        import django
        django.setup()
        from qtasks import QueueTasks
        from qtasks.contrib.django import autodiscover_tasks

        tasks_app = QueueTasks(broker_url="memory://tasks-app")
        jobs_app = QueueTasks(broker_url="memory://jobs-app")
        ours = ("tests.django_project.djapps.alpha", "tests.django_project.djapps.beta")
        imported_before = [m for m in sys.modules if m.startswith(ours)]
        autodiscover_tasks(tasks_app)
        autodiscover_tasks(jobs_app, ["jobs"])
        stage1 = {"tasks_app": sorted(tasks_app.tasks), "jobs_app": sorted(jobs_app.tasks)}
        autodiscover_tasks(jobs_app, ["tasks"])  # later, the other modules for jobs_app too
        autodiscover_tasks(tasks_app)  # and again: harmless
        from tests.django_project import project
        print(json.dumps({
            "imported_before": imported_before,
            "stage1": stage1,
            "jobs_app": sorted(jobs_app.tasks),
            "tasks_app": sorted(tasks_app.tasks),
            "imports": project.imports,
        }))
        """,
        settings_module="tests.django_project.settings",
    )
    data = last_json(result)
    # The applications are imported by django.setup(); their tasks and jobs modules not yet.
    assert f"{DJAPPS}.alpha" in data["imported_before"]
    assert not [m for m in data["imported_before"] if m.endswith((".tasks", ".jobs"))]
    stage1 = data["stage1"]
    # Created before the tasks modules were imported: shared tasks included, they only
    # reach these apps through autodiscover_tasks.
    assert ours(stage1["tasks_app"]) == TASKS
    assert ours(stage1["jobs_app"]) == JOBS
    assert ours(data["jobs_app"]) == TASKS | JOBS
    assert ours(data["tasks_app"]) == TASKS
    assert sorted(data["imports"]) == sorted(
        [
            f"{DJAPPS}.alpha.tasks",
            f"{DJAPPS}.alpha.jobs",
            f"{DJAPPS}.beta.tasks",
            f"{DJAPPS}.beta.jobs",
        ]
    )


def test_called_from_app_config_ready(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        "readyapp",
        {
            "apps.py": """
                from django.apps import AppConfig


                class ReadyAppConfig(AppConfig):
                    name = "readyapp"

                    def ready(self):
                        from qtasks.contrib.django import autodiscover_tasks
                        from readyapp.qtasks_app import app

                        autodiscover_tasks(app)
            """,
            "qtasks_app.py": """
                from qtasks import QueueTasks

                app = QueueTasks(broker_url="memory://readyapp")
            """,
            "models.py": """
                from django.db import models


                class Report(models.Model):
                    title = models.CharField(max_length=20)
            """,
            "tasks.py": """
                from qtasks import Router
                from readyapp.models import Report

                router = Router()


                @router.task("readyapp.count_reports")
                def count_reports():
                    return Report.__name__
            """,
        },
    )
    result = run_python(
        """
        import json
        import django
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=["django.contrib.contenttypes", "readyapp"],
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        )
        django.setup()
        from readyapp.qtasks_app import app
        print(json.dumps(sorted(app.tasks)))
        """,
        path=(tmp_path,),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["readyapp.count_reports"]


def test_a_syntax_error_in_a_tasks_module_raises_with_its_traceback(tmp_path: Path) -> None:
    write_app(tmp_path, "notasksapp", {})
    write_app(
        tmp_path,
        "syntaxapp",
        {"tasks.py": "from qtasks import shared_task\n\n\ndef broken(:\n    pass\n"},
    )
    result = run_python(
        """
        import sys, traceback
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["notasksapp", "syntaxapp"])
        django.setup()
        from qtasks import QueueTasks
        from qtasks.contrib.django import autodiscover_tasks
        try:
            autodiscover_tasks(QueueTasks(broker_url="memory://syntax"))
        except SyntaxError:
            traceback.print_exc()
            sys.exit(3)
        print("no error")
        """,
        path=(tmp_path,),
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert str(tmp_path / "syntaxapp" / "tasks.py") in result.stderr
    assert "def broken(:" in result.stderr
    assert "SyntaxError" in result.stderr
    assert "autodiscover_tasks() imported 'syntaxapp.tasks'" in result.stderr


def test_before_django_setup_it_raises_a_clear_error() -> None:
    result = run_python(
        """
        import json
        from qtasks import QueueTasks
        from qtasks.contrib.django import AppsNotReadyError, autodiscover_tasks
        from qtasks.core.errors import ConfigurationError
        outcomes = {}

        def attempt(case):
            try:
                autodiscover_tasks(QueueTasks(broker_url="memory://not-ready"))
            except AppsNotReadyError as exc:
                outcomes[case] = [isinstance(exc, ConfigurationError), str(exc)]
            else:
                outcomes[case] = "no error"

        attempt("no settings")
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["tests.django_project.djapps.alpha"])
        attempt("settings, no setup")
        import sys
        outcomes["imported"] = "tests.django_project.djapps.alpha.tasks" in sys.modules
        print(json.dumps(outcomes))
        """
    )
    data = last_json(result)
    assert data["imported"] is False
    for case in ("no settings", "settings, no setup"):
        is_config_error, message = data[case]
        assert is_config_error is True
        assert "AppConfig.ready()" in message and "django.setup()" in message


def test_importing_qtasks_does_not_need_django() -> None:
    result = run_python(
        """
        import json, sys
        sys.modules["django"] = None  # as if Django were not installed
        import qtasks
        import qtasks.asyncio
        import qtasks.contrib
        import qtasks.contrib.django
        from qtasks.contrib.django import autodiscover_tasks
        try:
            autodiscover_tasks(qtasks.QueueTasks(broker_url="memory://no-django"))
        except ModuleNotFoundError as exc:
            outcome = [type(exc).__name__, exc.name, str(exc)]
        else:
            outcome = "no error"
        print(json.dumps(outcome))
        """
    )
    kind, name, message = last_json(result)
    assert kind == "ModuleNotFoundError" and name == "django"
    assert "pip install django" in message


def test_importing_the_contrib_module_does_not_import_django() -> None:
    result = run_python(
        """
        import json, sys
        import qtasks
        import qtasks.contrib.django
        print(json.dumps({"django_imported": "django" in sys.modules}))
        """
    )
    assert last_json(result) == {"django_imported": False}
