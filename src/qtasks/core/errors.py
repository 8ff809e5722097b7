"""Every exception qtasks raises, in one tree under :class:`QTasksError`."""

from __future__ import annotations

import traceback


class QTasksError(Exception):
    """Root of qtasks' own errors; not raised directly."""


class ConfigurationError(QTasksError, ValueError):
    """A setting, URL or option is invalid."""


class UnknownTransportError(ConfigurationError):
    """A broker URL names a scheme no transport handles."""


class TaskNotFoundError(QTasksError, KeyError):
    """A task name is not registered on the app."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MessageDecodeError(QTasksError):
    """A message body read from the broker is not a valid qtasks envelope."""


class MessageTooDeepError(MessageDecodeError):
    """A body nested deeper than the decoder goes from where it was called (a worker
    decodes such a body again on a fresh thread's stack, as deep as any caller could
    have encoded it)."""


class BrokerError(QTasksError):
    """The transport failed to carry out an operation."""


class TaskTimeoutError(QTasksError, TimeoutError):
    """A task ran longer than its ``max_time``."""


class RefusedValueError(QTasksError, ValueError):
    """The broker answered, and refused a value it was given (text it cannot hold, a
    number out of its range): not a connection failure, so retrying the same value is
    pointless."""


class HookError(QTasksError):
    """A hook of the app's chain (a plugin, a middleware, a dependency) failed: the task it
    was running around is failed with this error, its cause kept."""


class TaskCancelledError(QTasksError):
    """Raised inside a task by ``self.ctx.cancel(reason)`` to stop it as cancelled."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class TaskPluginTriggerError(QTasksError):
    """QTasks' signal from a task to its plugins (``raise TaskPluginTriggerError(**kw)``).

    No plugin turns it into a result yet, so it fails the task like any other exception;
    its keyword arguments are kept on ``kwargs``.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args)
        self.kwargs = kwargs


class WorkerLostError(QTasksError):
    """A task's worker died too many times while running it."""


#: ``error_type`` of a task failed because its workers kept dying.
WORKER_LOST = "qtasks.core.errors.WorkerLostError"


def exception_path(exc: BaseException) -> str:
    """``module.QualName`` of an exception's class (what Django calls exception_class_path)."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


#: The error stored for an ``acks_early`` task whose worker was lost while running it.
LOST_AT_MOST_ONCE = (
    "qtasks.core.errors.WorkerLostError: the task's worker stopped while running it, and the "
    "task runs at most once (acks_early): not run again"
)


def lost_worker_message(attempts: int) -> str:
    """The error stored for a task whose workers kept dying under it (a poison pill)."""
    return (
        f"qtasks.core.errors.WorkerLostError: the task's worker stopped without finishing it "
        f"{attempts} times (killed, crashed or lost its lease); not retried again"
    )


def format_error(exc: BaseException) -> str:
    """The traceback text stored with a failed task."""
    return "".join(traceback.format_exception(exc)).rstrip()
