"""Nothing leaves the device: opt this process out of library telemetry before any library loads.

onnxruntime's Linux wheels (>= 1.29) start a telemetry uploader while `import onnxruntime` loads
its native module: a device id and an event cache under ~/.cache/Microsoft/DeveloperTools and DNS
queries for the vendor's events host. The switch is an environment variable read at that moment,
so it must be set before anything (piper, sherpa-onnx, faster-whisper, our engines) imports it;
runtime/__init__.py calls this first. Child processes inherit the variables.
"""

from __future__ import annotations

import os
import sys

OPT_OUT = {
    "ORT_DISABLE_TELEMETRY": "1",  # read by onnxruntime when its native module loads
    "ORT_TELEMETRY_DISABLED": "1",  # the spelling some onnxruntime sources use
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",  # faster-whisper never asks a model hub: models come from our store
    "DO_NOT_TRACK": "1",
}


def disable_telemetry() -> None:
    """Set the opt-outs (overriding a caller's "0"); if onnxruntime is already loaded, stop its
    events too (its uploader may have started)."""
    os.environ.update(OPT_OUT)
    ort = sys.modules.get("onnxruntime")
    if ort is not None and hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
