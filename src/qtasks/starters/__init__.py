"""QTasks path ``qtasks.starters``: what ``app.run_forever(starter=...)`` runs the app's
worker with (see :mod:`qtasks.starters.base`)."""

from qtasks.starters.async_starter import AsyncStarter
from qtasks.starters.base import BaseStarter
from qtasks.starters.sync_starter import SyncStarter

__all__ = ["AsyncStarter", "BaseStarter", "SyncStarter"]
