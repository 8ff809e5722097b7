"""QTasks path ``qtasks.tests``: the test cases ``SyncTestCase`` and ``AsyncTestCase``
(``BaseTestCase`` in ``qtasks.tests.base``), which run an app's tasks in the test's process."""

from qtasks.tests.async_testcase import AsyncTestCase
from qtasks.tests.base import BaseTestCase
from qtasks.tests.sync_testcase import SyncTestCase

__all__ = ["AsyncTestCase", "BaseTestCase", "SyncTestCase"]
