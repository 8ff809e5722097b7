"""Task utilities: chains (``SyncTaskUtils.chain`` / ``AsyncTaskUtils.chain``)."""

from qtasks.shared import shared_task
from qtasks.utils.chains import AsyncChain, AsyncTaskUtils, SyncChain, SyncTaskUtils

__all__ = ["AsyncChain", "AsyncTaskUtils", "SyncChain", "SyncTaskUtils", "shared_task"]
