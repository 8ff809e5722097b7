"""Retry timing: exponential backoff with full jitter."""

from __future__ import annotations

import random


def backoff_delay(
    retry_number: int,
    *,
    base: float = 1.0,
    maximum: float = 300.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

    Full jitter (a uniform draw below the exponential cap) spreads retries of
    tasks that failed together, so they do not hammer a recovering service at
    the same instant.
    """
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    if base <= 0:
        return 0.0
    cap = min(maximum, base * 2 ** (retry_number - 1))
    return (rng or random).uniform(0.0, cap)
