"""The one definition of the summary numbers every benchmark prints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def percentiles(values: Iterable[float | None], digits: int = 1) -> dict:
    """p50 (the median), p95 (nearest rank) and n of the values that are not None."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return {"p50": None, "p95": None, "n": 0}
    rank = max(0, math.ceil(0.95 * len(ordered)) - 1)
    return {"p50": round(statistics.median(ordered), digits), "p95": round(ordered[rank], digits), "n": len(ordered)}


def median(values: Iterable[float | None], digits: int = 1) -> float | None:
    """The median of the values that are not None (None when there are none)."""
    return percentiles(values, digits)["p50"]
