"""EdgeTalker: an offline talking digital human for edge devices."""

from runtime.core.privacy import disable_telemetry
from runtime.core.threads import share_cores

disable_telemetry()  # before any module of ours or a library imports onnxruntime
share_cores()  # before llama.cpp or CTranslate2 start their OpenMP thread pools

__version__ = "0.1.0"
