"""Exists, and fails to import: one of its dependencies is missing."""

import qtasks_djdisc_missing_dependency  # noqa: F401

from qtasks import shared_task


@shared_task("djdisc.alpha.never")
def never() -> None:
    pass
