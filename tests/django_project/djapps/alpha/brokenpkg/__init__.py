"""A package that exists and fails to import: ``brokenpkg.tasks`` must raise, not skip."""

import qtasks_djdisc_missing_parent_dependency  # noqa: F401
