"""EdgeTalker: an offline talking digital human for edge devices."""

from runtime.core.privacy import disable_telemetry

disable_telemetry()  # before any module of ours or a library imports onnxruntime

__version__ = "0.1.0"
