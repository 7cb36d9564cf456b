"""The one easing curve the face uses: a smoothstep from 0 to 1."""

from __future__ import annotations

import numpy as np


def smoothstep(t):
    """3t² - 2t³ of t clipped to 0..1: a float for a number, an array for an array."""
    if isinstance(t, (int, float)):
        t = min(1.0, max(0.0, float(t)))
        return t * t * (3 - 2 * t)
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)
