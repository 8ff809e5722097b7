"""alpha: tasks declared every way there is (sync flavour), plus broken modules that are
only imported when a test names them in ``modules``."""
