"""``qtasks -A module:app run``: the command line (click, rich output).

``base`` holds the group and its options (the app is loaded only by the commands that
need it, so ``--help`` works without ``-A``), ``loading`` finds the app and explains in
one line why it could not; ``commands``, ``dashboard``, ``dead``, ``monitor``,
``schedule`` and ``stats`` are the commands (``screens`` draws their tables).
"""

from qtasks.cli import commands, dashboard, dead, monitor, schedule, stats
from qtasks.cli.base import main
from qtasks.cli.loading import AppLoadError, load_app

__all__ = [
    "AppLoadError",
    "commands",
    "dashboard",
    "dead",
    "load_app",
    "main",
    "monitor",
    "schedule",
    "stats",
]
