"""``django://<alias>``: the queue in Django's own PostgreSQL database, and enqueues that
are part of the caller's transaction (``enqueue_on_commit`` False)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from qtasks.contrib.django import compat
from qtasks.contrib.django.database import resolve_broker_url
from qtasks.core.errors import ConfigurationError
from qtasks.testing import drain
from tests.django_project.djapps.shop import tasks

pytestmark = pytest.mark.django_db(databases=["queue"], transaction=True)


def _backend() -> Any:
    return compat.task_backends()["indb"]


@pytest.fixture(autouse=True)
def _close_queue_connections() -> Iterator[None]:
    """So pytest-django can drop its test database afterwards."""
    yield
    _backend().app.close()


def test_enqueue_is_part_of_the_callers_transaction() -> None:
    add = tasks.add.using(backend="indb")
    with pytest.raises(RuntimeError), transaction.atomic(using="queue"):
        dropped = add.enqueue(1, 2)
        raise RuntimeError("roll back")
    with pytest.raises(compat.TaskResultDoesNotExist):
        add.get_result(dropped.id)  # rolled back with the caller's work

    with transaction.atomic(using="queue"):
        kept = add.enqueue(3, 4)
        with pytest.raises(compat.TaskResultDoesNotExist):
            add.get_result(kept.id)  # the queue's own connections cannot see it yet
    assert add.get_result(kept.id).status == compat.TaskResultStatus.READY

    assert drain(_backend().app) == 1  # a worker on the same database runs it
    done = add.get_result(kept.id)
    assert done.status == compat.TaskResultStatus.SUCCESSFUL and done.return_value == 7


def test_django_url_names_the_database_it_uses() -> None:
    url = resolve_broker_url("django://queue?schema=djqueue")
    assert url is not None and url.startswith("postgresql://postgres@127.0.0.1:5432/test_")
    assert url.endswith("?schema=djqueue")
    with pytest.raises(ConfigurationError, match="needs PostgreSQL"):
        resolve_broker_url("django://default")  # SQLite
    with pytest.raises(ConfigurationError, match="no database 'nope'"):
        resolve_broker_url("django://nope")
