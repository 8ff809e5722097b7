"""Logs: a line per task event (:class:`TaskLog`, a hook every app has) and the formats
they are written in (:func:`configure`: rich, plain or JSON)."""

from qtasks.logs.formats import FORMATS, JsonFormatter, configure
from qtasks.logs.tasks import TaskLog

__all__ = ["FORMATS", "JsonFormatter", "TaskLog", "configure"]
