"""The product's performance targets and the verdict on a benchmark report: the bench prints it
beside its numbers (report.md), the console shows it beside the last report (GET /bench/latest)."""

from __future__ import annotations

TARGETS = {"voice_to_voice_ms.p50": 1000, "voice_to_voice_ms.p95": 1400, "barge_in_ms.p50": 150,
           "barge_in_ms.p95": 150, "render_fps": 30, "av_offset_ms": 40, "peak_rss_mb": 2048, "cold_start_s": 10}
"""Metric (a dotted key of report.json) -> its target: a most, or a least for render_fps, or a
bound on the absolute value for av_offset_ms."""


def check_targets(report: dict) -> list[tuple[str, float | None, float, bool]]:
    """(metric, value, target, met) for each target of the product."""
    rows = []
    for key, target in TARGETS.items():
        value = report
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if key == "av_offset_ms" and value is not None:
            met = abs(value) <= target
        elif key == "render_fps":
            met = value is not None and value >= target
        else:
            met = value is not None and value <= target
        rows.append((key, value, target, met))
    return rows
