"""A misspelt ``QTASKS_*`` variable is reported, naming the setting it is close to; the
variables qtasks reads elsewhere and other tools' variables are left alone."""

from __future__ import annotations

import os
import warnings

import pytest

from qtasks.config import QueueConfig, UnknownSettingWarning


def _warnings_of(make: type[QueueConfig] = QueueConfig, **options: object) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make(**options)  # type: ignore[arg-type]
    return [str(w.message) for w in caught if issubclass(w.category, UnknownSettingWarning)]


def test_a_misspelt_variable_warns_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTASKS_MAX_TASK_PROCESS", "3")
    with pytest.warns(UnknownSettingWarning) as caught:
        config = QueueConfig()
    assert [str(w.message) for w in caught] == [
        "environment variable QTASKS_MAX_TASK_PROCESS is not a qtasks setting and is "
        "ignored; did you mean QTASKS_MAX_TASKS_PROCESS?"
    ]
    assert config.max_tasks_process == 10  # ignored, as it says
    assert issubclass(UnknownSettingWarning, UserWarning)


def test_each_variable_is_reported_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTASKS_LEASE_SECOND", "3")
    assert len(_warnings_of()) == 1
    assert _warnings_of() == []  # a second app, same process: said already
    monkeypatch.setenv("QTASKS_GRACE_PERIODS", "1")
    assert _warnings_of() == [
        "environment variable QTASKS_GRACE_PERIODS is not a qtasks setting and is "
        "ignored; did you mean QTASKS_GRACE_PERIOD?"
    ]


@pytest.mark.parametrize(
    "variable",
    [
        "QTASKS_BROKER_URL",  # read by the URL resolver
        "QTASKS_APP",  # the CLI's -A
        "QTASKS_TEST_REDIS_URL",  # the test suites
        "QTASKS_TEST_MAX_ATTEMPTS",
        "QTASKS_DJANGO_TEST_BROKER",  # the Django contrib's tests
        "QTASKS_DJANGO_LEASE_SECONDS",
        "QTASKS_COLOR",  # not close to any setting: another tool's, not noise
        "QTASKS_RESULT_TTL",  # a setting, spelt right
        "QTASKS_MAX_TASKS_PROCESS",
        "qtasks_max_task_process",  # not the prefix (variables are case-sensitive)
    ],
)
def test_what_is_not_reported(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "memory://x" if variable.endswith("URL") else "3")
    assert _warnings_of() == []


def test_the_prefix_in_force_is_the_one_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPQ_MAX_ATTEMPT", "2")
    monkeypatch.setenv("SHOPQ_RESULT_TTL", "5")
    messages = _warnings_of(environ_prefix="SHOPQ_")
    assert messages == [
        "environment variable SHOPQ_MAX_ATTEMPT is not a qtasks setting and is ignored; "
        "did you mean SHOPQ_MAX_ATTEMPTS?"
    ]
    assert QueueConfig(environ_prefix="SHOPQ_").result_ttl == 5.0


def test_an_empty_prefix_checks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_ATTEMPT", "2")  # with no prefix every variable would be a candidate
    assert _warnings_of(environ_prefix="") == []


def test_apply_environment_checks_the_mapping_it_is_given() -> None:
    config = QueueConfig()
    with pytest.warns(UnknownSettingWarning, match="did you mean QTASKS_PREFETCH"):
        config.apply_environment({"QTASKS_PREFETCHH": "1", **os.environ})
