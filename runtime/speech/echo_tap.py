"""The speaker's output as EchoReference messages, for the microphone's echo canceller.

`block` runs on PortAudio's thread in the speaker's callback and only copies what was played and
when it is heard; `reference` runs on the play actor's thread and resamples it to 16 kHz. Blocks
are kept while the speaker sounds and for `tail_s` after (the room still rings; the canceller's
reference must go silent, not stop mid-word); a silent speaker sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.core.messages import EchoReference
from runtime.speech.audio import SAMPLE_RATE, to_int16

TAIL_S = 0.5
"""How long after the speaker went silent its (silent) blocks are still sent (seconds)."""


@dataclass(frozen=True, slots=True)
class Played:
    """One block the speaker played, as the callback saw it."""

    audio: np.ndarray
    """float32 at the device rate."""
    offset: int
    """Its first sample's number on the speaker's timeline (device rate)."""
    heard_ns: int
    """Monotonic time the first sample is heard (DAC time)."""


class SpeakerTap:
    """Turns the speaker's blocks into EchoReference messages at 16 kHz."""

    def __init__(self, rate: int, *, tail_s: float = TAIL_S) -> None:
        self.rate = rate
        self._tail = int(tail_s * rate)
        self._played = 0
        self._quiet = self._tail + 1
        self._next = -1
        """Device sample the resampler expects next (-1: start afresh)."""
        self._resampler = None
        self._out = 0
        """The next 16 kHz sample's number."""

    def block(self, out: np.ndarray, heard_ns: int) -> Played | None:
        """A block the speaker is about to play (PortAudio's thread: a copy, nothing more)."""
        offset, self._played = self._played, self._played + len(out)
        self._quiet = 0 if out.any() else self._quiet + len(out)
        if self._quiet > self._tail:
            return None
        return Played(out.copy(), offset, heard_ns)

    def reference(self, played: Played) -> EchoReference:
        """The block at 16 kHz, numbered and stamped on the speaker's 16 kHz timeline (actor's thread)."""
        if played.offset != self._next:  # a gap (the speaker was silent): resample afresh
            self._out = round(played.offset * SAMPLE_RATE / self.rate)
            self._resampler = None
            if self.rate != SAMPLE_RATE:
                import soxr

                self._resampler = soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="float32")
        self._next = played.offset + len(played.audio)
        audio = played.audio if self._resampler is None else self._resampler.resample_chunk(played.audio)
        # heard_ns belongs to device sample `offset`; the first sample sent is numbered self._out
        lag_ns = (self._out - played.offset * SAMPLE_RATE / self.rate) * 1e9 / SAMPLE_RATE
        msg = EchoReference(pcm=to_int16(audio), offset_samples=self._out, heard_ns=int(played.heard_ns + lag_ns))
        self._out += len(audio)
        return msg
