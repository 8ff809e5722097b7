"""``qtasks -A module:app run``: the command line (click, rich output).

``base`` holds the group and its options (the app is loaded only by the commands that
need it, so ``--help`` works without ``-A``), ``loading`` finds the app and explains in
one line why it could not, ``commands``, ``dead`` and ``stats`` are the commands.
"""

from qtasks.cli import commands, dead, stats
from qtasks.cli.base import main
from qtasks.cli.loading import AppLoadError, load_app

__all__ = ["AppLoadError", "commands", "dead", "load_app", "main", "stats"]
