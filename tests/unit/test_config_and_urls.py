"""Settings from the environment, and choosing a transport from a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtasks import QueueTasks
from qtasks.brokers.memory import MemoryBroker
from qtasks.brokers.sqlite import SQLiteBroker
from qtasks.brokers.urls import broker_factory, resolve_url
from qtasks.config import QueueConfig
from qtasks.core.errors import ConfigurationError, UnknownTransportError


def test_environment_overrides_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTASKS_MAX_TASKS_PROCESS", "3")
    monkeypatch.setenv("QTASKS_RESULT_TTL", "none")
    monkeypatch.setenv("QTASKS_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("QTASKS_LOGS_DEFAULT_LEVEL_SERVER", "warning")
    config = QueueConfig()
    assert config.max_tasks_process == 3 and config.result_ttl is None
    assert config.lease_seconds == 2.5 and config.logs_default_level_server == 30


def test_bad_environment_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTASKS_MAX_TASKS_PROCESS", "many")
    with pytest.raises(ConfigurationError, match="QTASKS_MAX_TASKS_PROCESS"):
        QueueConfig()


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="lease_seconds"):
        QueueConfig(lease_seconds=0)


def test_default_is_sqlite_file_in_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("QTASKS_BROKER_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    app = QueueTasks()
    file = tmp_path / "qtasks.sqlite3"
    assert app.broker_url == f"sqlite:///{file}"  # shown absolute: sqlite:////tmp/.../
    broker = app._client.new_broker()
    assert isinstance(broker, SQLiteBroker) and broker.path == str(file)


def test_relative_sqlite_url_is_resolved_once_when_the_app_is_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A process that later changes directory still names (and uses) the first file."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    app = QueueTasks(broker_url="sqlite:///sub/q.db?poll_max=0.05")
    env_app_url = "sqlite://"  # no path: the default file
    monkeypatch.setenv("QTASKS_BROKER_URL", env_app_url)
    from_env = QueueTasks()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert app.broker_url == f"sqlite:///{tmp_path}/sub/q.db?poll_max=0.05"
    assert from_env.broker_url == f"sqlite:///{tmp_path}/qtasks.sqlite3"
    broker = app._client.new_broker()
    assert isinstance(broker, SQLiteBroker) and broker.path == str(tmp_path / "sub/q.db")
    assert QueueTasks(broker_url=app.broker_url).broker_url == app.broker_url  # a fixed point
    assert QueueTasks(broker_url="memory://x").broker_url == "memory://x"  # others as given


def test_environment_url_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTASKS_BROKER_URL", "memory://from-env")
    assert resolve_url(None) == "memory://from-env"
    assert isinstance(QueueTasks()._client.new_broker(), MemoryBroker)


def test_sqlite_url_spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = broker_factory("sqlite:///sub/q.db")()
    absolute = broker_factory("sqlite:////var/tmp/q.db?poll_max=0.1")()
    assert isinstance(relative, SQLiteBroker) and relative.path == str(tmp_path / "sub/q.db")
    assert isinstance(absolute, SQLiteBroker) and absolute.path == "/var/tmp/q.db"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://host/q.db",
        "sqlite:///:memory:",
        "sqlite:///q.db?bogus=1",
        "sqlite:///q.db?poll_max=x",
    ],
)
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        broker_factory(url)


def test_unknown_scheme_names_supported_ones() -> None:
    with pytest.raises(UnknownTransportError, match="sqlite://") as info:
        broker_factory("kafka://localhost")
    assert "memory://" in str(info.value) and "'kafka'" in str(info.value)


def test_duplicate_task_name_raises() -> None:
    app = QueueTasks(broker_url="memory://dup")

    @app.task(name="same")
    def one() -> None: ...

    with pytest.raises(ValueError, match="same"):

        @app.task(name="same")
        def two() -> None: ...

    app.register(app.tasks["same"])  # the same task again is a no-op


def test_code_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTASKS_MAX_TASKS_PROCESS", "32")
    assert QueueConfig(max_tasks_process=4).max_tasks_process == 4
    assert QueueConfig().max_tasks_process == 32


def test_custom_prefix_named_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYAPP_PREFETCH", "x")
    with pytest.raises(ConfigurationError, match="MYAPP_PREFETCH"):
        QueueConfig(environ_prefix="MYAPP_")


@pytest.mark.parametrize("field", ["grace_period", "retry_backoff", "retry_backoff_max"])
def test_negative_durations_rejected(field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        QueueConfig(**{field: -1})  # type: ignore[arg-type]


def test_empty_default_queue_rejected() -> None:
    with pytest.raises(ConfigurationError, match="default_queue"):
        QueueConfig(default_queue="")


def test_same_name_with_other_options_is_a_conflict() -> None:
    app = QueueTasks(broker_url="memory://conflict")

    def f() -> None: ...

    app.task(name="x")(f)
    app.task(name="x")(f)  # the same declaration again: a no-op
    with pytest.raises(ValueError, match="'x'"):
        app.task(name="x", priority=9)(f)


def test_loop_executor_cannot_have_max_time() -> None:
    app = QueueTasks(broker_url="memory://loop-max-time")
    with pytest.raises(ConfigurationError, match="max_time"):

        @app.task(executor="loop", max_time=1)
        def tiny() -> None: ...


def test_ping_is_false_when_sqlite_directory_is_missing(tmp_path: Path) -> None:
    app = QueueTasks(broker_url=f"sqlite:///{tmp_path}/missing/dir/q.db")
    assert app.ping() is False


def test_worker_banner_masks_passwords_in_the_url() -> None:
    from qtasks.brokers.urls import display_url as _shown

    shown = _shown("redis+sentinel://u:pw@h:1,h2:2/svc?sentinel_password=abc&db=1")
    assert "pw" not in shown and "abc" not in shown and "db=1" in shown
    assert _shown("postgresql://a:b@h/db?schema=s") == "postgresql://a:***@h/db?schema=s"
    assert _shown("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
