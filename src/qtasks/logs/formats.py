"""How qtasks' log lines are written: rich (a terminal), plain text, or one JSON object
per line (``qtasks run --log-format json``) for a log pipeline."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import IO, Any

import msgspec

#: Record attributes written as JSON keys when a record has them (the task's fields).
TASK_FIELDS = (
    "task_id",
    "task_name",
    "queue",
    "attempt",
    "worker_id",
    "status",
    "duration_ms",
    "retry",
    "retry_delay",
    "retry_id",
    "lost_worker_id",
    "traceback",
)

FORMATS = ("rich", "plain", "json")

_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, then the task's fields that the record carries; an exception's
    traceback under ``traceback``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": getattr(record, "headline", None) or record.getMessage(),
        }
        for name in TASK_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                data[name] = value
        if record.exc_info and "traceback" not in data:
            data["traceback"] = self.formatException(record.exc_info)
        return _encoder.encode(data).decode()


def configure(
    level: int | str = logging.INFO, fmt: str = "rich", stream: IO[str] | None = None
) -> None:
    """Send every log record at ``level`` and above to ``stream`` (stderr) as ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    target = stream or sys.stderr
    handler: logging.Handler
    if fmt == "rich":
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(file=target), show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    else:
        handler = logging.StreamHandler(target)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
            )
    logging.basicConfig(level=level, handlers=[handler], force=True)
