"""qtasks' pytest plugin (``qtasks.pytest_plugin``, loaded through the ``pytest11`` entry
point): each test here writes a small test file that uses the fixtures and runs pytest on
it, as a user's project would."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from qtasks import QueueTasks

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    options = ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"]
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *options, *args)


def test_app_and_drain(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_drain_runs_what_is_due(qtasks_app, qtasks_drain):
            @qtasks_app.task
            def add(a, b):
                return a + b

            tasks = [add.add_task(1, 2), add.add_task(3, 4)]
            assert qtasks_app.get(tasks[0].uuid).status == "new"
            assert qtasks_drain() == 2
            assert [qtasks_app.get(t.uuid).returning for t in tasks] == [3, 7]
            assert qtasks_drain() == 0

        def test_each_test_gets_a_fresh_app(qtasks_app, qtasks_drain):
            assert qtasks_app.broker_url.startswith("memory://")
            assert qtasks_app.count() == {}
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_drain_keeps_errors_and_can_raise_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_errors(qtasks_app, qtasks_drain):
            @qtasks_app.task
            def boom():
                raise ZeroDivisionError("no")

            failed = boom.add_task()
            assert qtasks_drain() == 1
            (error,) = qtasks_drain.errors
            assert isinstance(error.error, ZeroDivisionError)
            assert (error.task_id, error.task_name) == (str(failed.uuid), "boom")
            assert "ZeroDivisionError: no" in error.traceback
            assert qtasks_app.get(failed.uuid).status == "error"

            boom.add_task()
            with pytest.raises(ZeroDivisionError):
                qtasks_drain(raise_errors=True)
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_eager_returns_the_result_through_the_real_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_eager(qtasks_eager):
            app = qtasks_eager

            @app.task
            def describe(value):
                return [type(value).__name__, value]

            done = describe.add_task((1, 2))
            assert done.status == "success"
            assert done.returning == ["list", [1, 2]]  # encoded and decoded, as for real
            assert app.add_task("describe", {"a": 1}).returning == ["dict", {"a": 1}]

            with pytest.raises(TypeError, match="not JSON-serializable"):
                describe.add_task(object())  # refused in the caller, as for real
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_eager_surfaces_a_task_error(pytester: pytest.Pytester) -> None:
    """The file's first test must fail: the task's own exception reaches the test."""
    pytester.makepyfile(
        """
        import pytest

        def charge(app):
            @app.task
            def charge(cents):
                if cents <= 0:
                    raise ValueError(f"cannot charge {cents}")
                return cents
            return charge

        def test_fails_with_the_task_error(qtasks_eager):
            charge(qtasks_eager).add_task(0)

        def test_the_error_can_be_expected(qtasks_eager):
            task = charge(qtasks_eager)
            with pytest.raises(ValueError, match="cannot charge -1"):
                task.add_task(-1)
            assert task.add_task(5).returning == 5
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*ValueError: cannot charge 0*"])


def test_worker_in_a_thread(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading

        def test_waits_on_a_worker(qtasks_app, qtasks_worker):
            @qtasks_app.task
            def where():
                return threading.current_thread().name

            done = where.add_task(timeout=30)
            assert done.status == "success"
            assert done.returning != threading.current_thread().name
            assert done.worker_id == qtasks_worker.id
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_name_config_and_class_are_overridable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import qtasks.asyncio
        from qtasks.config import QueueConfig

        @pytest.fixture
        def qtasks_config():
            return QueueConfig(default_queue="shop-queue")

        @pytest.fixture
        def qtasks_app_class():
            return qtasks.asyncio.QueueTasks

        @pytest.mark.parametrize("qtasks_app_name", ["shop"])
        async def test_async_app(qtasks_eager, qtasks_app_name):
            app = qtasks_eager
            assert isinstance(app, qtasks.asyncio.QueueTasks) and app.name == "shop"

            @app.task
            async def double(x):
                return 2 * x

            done = await double.add_task(21)
            assert (done.returning, done.queue) == (42, "shop-queue")

        async def test_async_drain(qtasks_app, qtasks_drain):
            @qtasks_app.task
            async def one():
                return 1

            await one.add_task()
            assert await qtasks_drain.run_async() == 1
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_a_users_app_on_memory(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The project's own app, pointed at memory for each test and back afterwards."""
    database = tmp_path / "real.sqlite3"
    pytester.makepyfile(
        myproject=f"""
        from qtasks import QueueTasks

        app = QueueTasks(name="shop", broker_url="sqlite:///{database}")

        @app.task
        def total(prices):
            return sum(prices)
        """,
        conftest="""
        import pytest
        import myproject

        @pytest.fixture
        def qtasks_app(qtasks_memory):
            return qtasks_memory(myproject.app)

        @pytest.fixture(autouse=True)
        def back_on_sqlite():
            yield
            assert myproject.app.broker_url.startswith("sqlite:///")
        """,
        test_shop="""
        import myproject

        def test_eager(qtasks_eager):
            assert myproject.app.broker_url.startswith("memory://")
            assert myproject.total.add_task([1, 2, 3]).returning == 6

        def test_drain(qtasks_drain):
            task = myproject.total.add_task([4])
            assert qtasks_drain() == 1
            assert myproject.app.get(task.uuid).returning == 4
        """,
    )
    run(pytester, "test_shop.py").assert_outcomes(passed=2)
    real = QueueTasks(name="shop", broker_url=f"sqlite:///{database}")
    assert real.count() == {}  # nothing of the tests reached the real transport


def test_plugin_fixtures_do_not_clash_with_our_suites() -> None:
    """Every fixture of the plugin is ``qtasks_*``, and no conftest of ours defines one."""
    plugin = ast.parse((ROOT / "src/qtasks/pytest_plugin.py").read_text(encoding="utf-8"))
    ours = {n.name for n in plugin.body if isinstance(n, ast.FunctionDef)}
    assert ours and all(name.startswith("qtasks_") for name in ours)
    for conftest in (ROOT / "tests").rglob("conftest.py"):
        tree = ast.parse(conftest.read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not defined & ours, conftest
