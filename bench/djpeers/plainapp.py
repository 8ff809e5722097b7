"""The plain qtasks app of the ``plain`` peer (``peer_dj_plain.py``): ``qtasks.QueueTasks``
named "plain" on the peer's bench Redis database (``BENCH_REDIS_URL``), no Django backend in
the way. Its worker: ``python -m qtasks -A plainapp:app run``.

Its four tasks are ``benchtasks.tasks``' bodies themselves (``noop``, ``io``, ``lat``,
``lat_io``: the plain functions under Django's ``@task``, its ``.func``), registered under
the same names as sync ``def`` tasks, which the worker runs on its thread pool as it runs
the Django path's. Importing ``benchtasks.tasks`` makes Django's ``Task`` objects, which
needs settings: ``benchsite.settings_plain`` (Django's dummy backend; ``django.setup()`` is
not needed and the worker never calls it).
"""

from __future__ import annotations

import os
from typing import Any

from benchtasks import tasks as django_tasks

from qtasks import QueueTasks

NAMES = ("noop", "io", "lat", "lat_io")

app = QueueTasks("plain", broker_url=os.environ["BENCH_REDIS_URL"])
TASKS: dict[str, Any] = {name: app.task(name)(getattr(django_tasks, name).func) for name in NAMES}
