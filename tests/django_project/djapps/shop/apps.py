from __future__ import annotations

import json
import os
from typing import Any

from django.apps import AppConfig

#: Where lifecycle signals are recorded (set by the tests for the worker process too).
SIGNAL_LOG = "QTASKS_TEST_SIGNAL_LOG"


def record(event: str, task_result: Any) -> None:
    path = os.environ.get(SIGNAL_LOG)
    if not path:
        return
    line = {
        "event": event,
        "id": task_result.id,
        "status": str(task_result.status),
        "pid": os.getpid(),
    }
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")


class ShopConfig(AppConfig):
    name = "tests.django_project.djapps.shop"
    label = "shop"

    def ready(self) -> None:
        from qtasks.contrib.django import compat

        compat.task_enqueued.connect(
            lambda sender, task_result, **kw: record("enqueued", task_result), weak=False
        )
        compat.task_started.connect(
            lambda sender, task_result, **kw: record("started", task_result), weak=False
        )
        compat.task_finished.connect(
            lambda sender, task_result, **kw: record("finished", task_result), weak=False
        )
