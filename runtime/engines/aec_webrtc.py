"""WebRTC's echo canceller (AEC3) through the `livekit` wheel's AudioProcessingModule.

The wheel (Apache-2.0) carries a prebuilt WebRTC audio processing library, runs in-process and
offline (nothing is fetched or connected: only the module is created), and was measured against
libspeexdsp's canceller on piper's voice through a simulated room (README, echo cancellation):
about 40 dB of echo removed against 10-25 dB, converged within the first second, and it finds the
speaker-to-microphone delay itself. No bus, no threads: one object per microphone stream.
"""

from __future__ import annotations

import numpy as np

from runtime.core.errors import CaptureFault

FRAME_S = 0.01
"""WebRTC's processing unit: 10 ms frames (seconds)."""


def missing_library(err: BaseException | None = None) -> CaptureFault:
    """The fault for a machine without the canceller (stable code, with the fix)."""
    why = f" ({type(err).__name__}: {err})" if err else ""
    return CaptureFault("capture-echo-cancel-missing",
                        f"[capture] echo_cancel is on but WebRTC's echo canceller cannot be loaded{why}",
                        "install it with `pip install livekit` (it is in the product's dependencies), or set "
                        "[capture] echo_cancel = false: the [listen] barge-in echo policy alone then keeps "
                        "the avatar from interrupting itself")


class WebRtcCanceller:
    """Takes the speaker's signal out of the microphone's, one 10 ms frame at a time (int16 in and out)."""

    def __init__(self, *, rate: int = 16000) -> None:
        try:
            from livekit.rtc import AudioFrame, AudioProcessingModule

            self._apm = AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
        except Exception as err:
            raise missing_library(err) from err
        self.rate = rate
        self.frame = int(rate * FRAME_S)
        """Samples per call."""
        self._mic_buffer, self._ref_buffer = bytearray(2 * self.frame), bytearray(2 * self.frame)
        self._mic_frame = AudioFrame(self._mic_buffer, rate, 1, self.frame)
        self._ref_frame = AudioFrame(self._ref_buffer, rate, 1, self.frame)
        self._mic = np.frombuffer(self._mic_buffer, np.int16)
        self._ref = np.frombuffer(self._ref_buffer, np.int16)
        self._apm.set_stream_delay_ms(0)  # the reference comes aligned (runtime.speech.aec)

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """The microphone frame with the echo of the reference frame taken out (a new int16 array)."""
        if len(mic) != self.frame or len(ref) != self.frame:
            raise ValueError(f"frames of {self.frame} samples expected, got {len(mic)} and {len(ref)}")
        self._ref[:] = ref
        self._apm.process_reverse_stream(self._ref_frame)
        self._mic[:] = mic
        self._apm.set_stream_delay_ms(0)
        self._apm.process_stream(self._mic_frame)
        return self._mic.copy()
