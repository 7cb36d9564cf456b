"""Echo cancellation where the microphone's audio enters: what the speaker played (EchoReference,
from the play actor) is lined up with each microphone block by the monotonic clock and taken out
of it, before voice activity detection ever hears it.

Alignment. Both ends stamp their blocks on PortAudio's threads: the speaker with the time its
first sample is heard (DAC time), the microphone with the time its first sample was captured.
Each end is a `SampleClock` (sample n at base + n / rate, the base following the earliest stamps,
so callback jitter does not shift the reference frame to frame). A microphone sample captured at
t is paired with the speaker's sample heard at t + `lead_s`: the echo then always comes after its
reference (a canceller can only model a causal path), by the room's delay plus the lead, which
WebRTC's delay estimator finds. Where the devices' clocks are off (a sound server that reports
more buffering than it does), the echo is measured coming before its reference (EchoDelay, once
a second while the avatar speaks, twice running) and the pairing moves so that it comes
`margin_s` after. The
reference is kept in a ring indexed by the speaker's sample number; a sample it never got (a late
or lost message, silence, no speaker) reads as zero.

Cost. A microphone frame with no sound played in the last `idle_s` (the visitor talking to a
silent avatar: the endpoint's critical path) is passed through untouched; the canceller runs
only while the avatar may be heard. It never waits: the microphone is never held for a reference.
"""

from __future__ import annotations

import logging

import numpy as np

from runtime.core.messages import EchoReference
from runtime.speech.audio import SAMPLE_RATE, to_float, to_int16, to_rate
from runtime.speech.echo_delay import EchoDelay

_LOGGER = logging.getLogger(__name__)


class SampleClock:
    """When sample n of a stream is heard or captured: base_ns + n / rate, fitted to block stamps.

    A stamp comes late by scheduling jitter, never early, so the earliest is the truest: the base
    follows the minimum, creeping up by `creep_ns` per stamp to follow clock drift. Stamps more
    than `jump_ns` late are a starved thread's, and ignored, unless `settle` of them come in a row
    (a device reopened, a new stream): then the clock starts afresh from them.
    """

    def __init__(self, rate: int, *, creep_ns: int = 20_000, jump_ns: int = 60_000_000, settle: int = 25) -> None:
        self.rate = rate
        self._creep, self._jump, self._settle = creep_ns, jump_ns, settle
        self.base_ns: float | None = None
        self._late: list[float] = []

    def stamp(self, sample: int, t_ns: int) -> None:
        """Sample `sample` was heard (or captured) at monotonic time t_ns."""
        base = t_ns - sample * 1e9 / self.rate
        if self.base_ns is not None and base > self.base_ns + self._jump:
            if self._late and abs(base - self._late[-1]) > self._jump:
                self._late.clear()  # not one new stream: late by different amounts
            self._late.append(base)
            if len(self._late) < self._settle:
                return
            base = min(self._late)
        if self.base_ns is None or self._late:
            self.base_ns = base
        else:
            self.base_ns = min(base, self.base_ns + self._creep)
        self._late.clear()

    def sample_at(self, t_ns: float) -> int:
        """The sample heard at monotonic time t_ns (needs one stamp)."""
        return round((t_ns - self.base_ns) * self.rate / 1e9)

    def time_of(self, sample: int) -> float:
        """The monotonic time of a sample (needs one stamp)."""
        return self.base_ns + sample * 1e9 / self.rate


class EchoCanceller:
    """The microphone's audio (float32, 16 kHz) with the speaker's echo taken out.

    `engine` cancels one frame given the aligned reference (runtime.engines.aec_webrtc).
    """

    def __init__(self, engine, *, rate: int = SAMPLE_RATE, lead_s: float = 0.02, idle_s: float = 0.6,
                 history_s: float = 4.0, margin_s: float = 0.02, max_lead_s: float = 0.3) -> None:
        self.engine = engine
        self.rate = rate
        self.frame = engine.frame
        self.lead_ns = lead_s * 1e9
        """How much later the speaker's sample paired with a microphone sample is heard (ns)."""
        self._margin = int(margin_s * rate)
        self._max_lead_ns = max_lead_s * 1e9
        self._delay = EchoDelay(rate)
        self._last_lag: int | None = None
        self._idle = int(idle_s * rate)
        self._ring = np.zeros(int(history_s * rate), np.int16)
        self._slot = np.full(len(self._ring), -1, np.int64)
        """The speaker sample each ring slot holds (-1: none)."""
        self.speaker = SampleClock(rate)
        self.microphone = SampleClock(rate)
        self._heard = 0
        """Microphone samples taken in so far (16 kHz): the next one's number."""
        self._carry = np.zeros(0, np.float32)
        self._sounded = -(2**62)
        """The speaker's last non-silent sample."""
        self.frames = 0
        """Frames the canceller ran on (the others were passed through)."""

    def reference(self, msg: EchoReference) -> None:
        """Keep a block of what the speaker plays, by its sample number."""
        pcm = np.asarray(msg.pcm)
        offset = msg.offset_samples
        if msg.sample_rate != self.rate:  # a speaker tap at another rate: on our timeline
            pcm = to_int16(to_rate(to_float(pcm), msg.sample_rate, self.rate))
            offset = round(offset * self.rate / msg.sample_rate)
        if not len(pcm):
            return
        self.speaker.stamp(offset, msg.heard_ns)
        pcm = pcm[-len(self._ring):]
        samples = offset + np.arange(len(pcm), dtype=np.int64)
        slots = samples % len(self._ring)
        self._ring[slots] = pcm
        self._slot[slots] = samples
        loud = np.flatnonzero(pcm)
        if loud.size:
            self._sounded = max(self._sounded, int(samples[loud[-1]]))

    def cancel(self, audio: np.ndarray, captured_ns: int | None) -> np.ndarray:
        """The echo-free audio of a microphone block whose first sample was captured at captured_ns
        (None: unknown, the last fit is used). Returns whole frames; a remainder waits for the next block."""
        if captured_ns is not None:
            self.microphone.stamp(self._heard + len(self._carry), captured_ns)
        audio = np.concatenate([self._carry, np.asarray(audio, np.float32)])
        whole = len(audio) - len(audio) % self.frame
        out, self._carry = audio[:whole].copy(), audio[whole:]
        for start in range(0, whole, self.frame):
            ref = self._reference_for(self._heard + start)
            if ref is not None:
                mic = to_int16(out[start:start + self.frame])
                out[start:start + self.frame] = to_float(self.engine.process(mic, ref))
                self.frames += 1
                self._realign(self._delay.add(mic, ref))
        self._heard += whole
        return out

    def _realign(self, lag: int | None) -> None:
        """The echo comes too early for its reference (lag < margin) in two measurements running
        (one alone may be a chance peak): pair later speaker samples."""
        if lag is None:
            return
        last, self._last_lag = self._last_lag, lag
        if last is None or abs(lag - last) > self.rate // 500 or lag >= self._margin // 2:
            return
        lead = min(self._max_lead_ns, self.lead_ns + (self._margin - lag) * 1e9 / self.rate)
        _LOGGER.info("echo came %.0f ms before its reference: the speaker is paired %.0f ms later",
                     -lag * 1000 / self.rate, (lead - self.lead_ns) / 1e6)
        self.lead_ns = lead

    def _reference_for(self, mic_sample: int) -> np.ndarray | None:
        """The speaker's samples paired with a microphone frame, or None when nothing was played lately."""
        if self.speaker.base_ns is None or self.microphone.base_ns is None:
            return None
        first = self.speaker.sample_at(self.microphone.time_of(mic_sample) + self.lead_ns)
        if first - self._sounded > self._idle:
            return None
        samples = first + np.arange(self.frame, dtype=np.int64)
        slots = samples % len(self._ring)
        return np.where(self._slot[slots] == samples, self._ring[slots], 0).astype(np.int16)
