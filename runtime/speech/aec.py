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

Waiting for the reference. A microphone frame is cancelled only with all of the speaker's samples
it is paired with. When they are due (the speaker sounded up to `tail_s` before them, so the play
actor still sends) but not here yet, the frame waits for them, at most `wait_s` after it was
captured, and the frames behind it wait in order. Measured in the room test: the reference of a
mic frame came with 0 ms to spare on a quiet box (the speaker's block heard 20-40 ms after its
callback, paired 20 ms ahead) and up to 100 ms late under two CPU hogs, 150+ ms beside a benchmark
at nice 0; a reference read as zero where the speaker sounded is an echo let through whole (-15
dBFS) and AEC3 thrown off for ~100 ms. A frame whose reference never comes goes on after `wait_s`
with what there is, and the guard is blind a while (runtime.speech.echo_guard); the microphone is
never held longer.

Cost. A microphone frame with no sound played in the last `idle_s` (the visitor talking to a
silent avatar: the endpoint's critical path) is passed through untouched and never waits; the
canceller runs only while the avatar may be heard. Until it has converged, what it lets through
is turned down (runtime.speech.echo_guard).
"""

from __future__ import annotations

import logging
import time
from collections import deque

import numpy as np

from runtime.core.messages import EchoReference
from runtime.speech.audio import SAMPLE_RATE, to_float, to_int16, to_rate
from runtime.speech.echo_delay import EchoDelay
from runtime.speech.echo_guard import EchoGuard
from runtime.speech.echo_tap import TAIL_S

_LOGGER = logging.getLogger(__name__)


class SampleClock:
    """When sample n of a stream is heard or captured: base_ns + n / rate, fitted to block stamps.

    A stamp comes late by scheduling jitter, never early, so the earliest is the truest: the base
    follows the minimum, creeping up by `creep_ns` per stamp to follow clock drift. Stamps more
    than `jump_ns` late are a starved thread's, and ignored, unless `settle` of them come in a row
    late by the same amount (within `spread_ns`: a device reopened, a new stream): then the clock
    starts afresh from them. A starved thread's blocks catching up come late by less and less (one
    block less each): measured under load, 25 of them in a row restarted the clock 167 ms late and
    the microphone went uncancelled until it came back.
    """

    def __init__(self, rate: int, *, creep_ns: int = 20_000, jump_ns: int = 60_000_000, settle: int = 25,
                 spread_ns: int = 15_000_000) -> None:
        self.rate = rate
        self._creep, self._jump, self._settle, self._spread = creep_ns, jump_ns, settle, spread_ns
        self.base_ns: float | None = None
        self._late: list[float] = []

    def stamp(self, sample: int, t_ns: int) -> None:
        """Sample `sample` was heard (or captured) at monotonic time t_ns."""
        base = t_ns - sample * 1e9 / self.rate
        if self.base_ns is not None and base > self.base_ns + self._jump:
            self._late.append(base)
            self._late = [b for b in self._late if abs(b - base) <= self._spread]  # late by as much as this one
            if len(self._late) >= self._settle:  # a new stream: start afresh from its earliest
                self.base_ns = min(self._late)
                self._late.clear()
            return
        self._late.clear()
        # (a stamp just under jump_ns late after a starved one is late too: it must not become the
        # base, as it did until 2026-12-07: the pairing jumped 46-57 ms and back and AEC3 let the echo
        # through while it found the delay again, the room test's mid-answer barge-ins)
        self.base_ns = base if self.base_ns is None else min(base, self.base_ns + self._creep)

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
                 history_s: float = 4.0, margin_s: float = 0.02, max_lead_s: float = 0.3, tail_s: float = TAIL_S,
                 wait_s: float = 0.3, guard: EchoGuard | None = None) -> None:
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
        self._tail = int((tail_s - 0.1) * rate)
        """A reference is due this long after the speaker sounded (the tap's tail, less its resampler's slack)."""
        self._wait_ns = wait_s * 1e9
        self.guard = guard or EchoGuard(rate, self.frame)
        self._pending: deque[np.ndarray] = deque()
        """Microphone frames taken in, waiting for their reference (oldest first)."""
        self._taken = 0
        """Microphone samples taken in so far (whole frames)."""
        self._received = -1
        """One past the newest speaker sample received."""
        self.waited = 0
        """Frames that waited for their reference."""
        self._waiting = -1
        """The microphone sample whose frame waits (counted once)."""
        self._ring = np.zeros(int(history_s * rate), np.int16)
        self._slot = np.full(len(self._ring), -1, np.int64)
        """The speaker sample each ring slot holds (-1: none)."""
        self.speaker = SampleClock(rate)
        self.microphone = SampleClock(rate)
        self._heard = 0
        """Microphone samples given out so far (16 kHz): the next one's number."""
        self._carry = np.zeros(0, np.float32)
        self._sounded = -(2**62)
        """The speaker's last non-silent sample."""
        self.frames = 0
        """Frames the canceller ran on (the others were passed through)."""

    def reference(self, msg: EchoReference, now_ns: int | None = None) -> np.ndarray:
        """Keep a block of what the speaker plays, by its sample number; returns the microphone's
        frames that were waiting for it and are ready now (float32, maybe empty)."""
        pcm = np.asarray(msg.pcm)
        offset = msg.offset_samples
        if msg.sample_rate != self.rate:  # a speaker tap at another rate: on our timeline
            pcm = to_int16(to_rate(to_float(pcm), msg.sample_rate, self.rate))
            offset = round(offset * self.rate / msg.sample_rate)
        if not len(pcm):
            return self.ready(now_ns)
        self.speaker.stamp(offset, msg.heard_ns)
        pcm = pcm[-len(self._ring):]
        samples = offset + np.arange(len(pcm), dtype=np.int64)
        slots = samples % len(self._ring)
        self._ring[slots] = pcm
        self._slot[slots] = samples
        loud = np.flatnonzero(pcm)
        if loud.size:
            self._sounded = max(self._sounded, int(samples[loud[-1]]))
        self._received = max(self._received, offset + len(pcm))
        return self.ready(now_ns)

    def cancel(self, audio: np.ndarray, captured_ns: int | None, now_ns: int | None = None) -> np.ndarray:
        """Take in a microphone block whose first sample was captured at captured_ns (None: unknown,
        the last fit is used); returns the echo-free frames ready now, in order (whole frames: a
        remainder waits for the next block, a frame may wait for its reference)."""
        if captured_ns is not None:
            self.microphone.stamp(self._taken + len(self._carry), captured_ns)
        audio = np.concatenate([self._carry, np.asarray(audio, np.float32)])
        whole = len(audio) - len(audio) % self.frame
        self._pending.extend(audio[start:start + self.frame] for start in range(0, whole, self.frame))
        self._carry = audio[whole:].copy()
        self._taken += whole
        return self.ready(now_ns)

    def ready(self, now_ns: int | None = None) -> np.ndarray:
        """The waiting frames that can go now (monotonic now_ns; None: the clock's), cancelled, in order."""
        now = time.monotonic_ns() if now_ns is None else now_ns
        out = []
        while self._pending:
            ref = self._reference_for(self._heard, now)
            if ref is _WAIT:
                break
            frame = self._pending.popleft()
            if ref is None:
                frame = self.guard.passed(frame)
            else:
                mic = to_int16(frame)
                cancelled = self.guard.apply(mic, ref, self.engine.process(mic, ref))
                frame = to_float(cancelled)
                self.frames += 1
                self._realign(self._delay.add(mic, ref))
            out.append(frame)
            self._heard += self.frame
        return np.concatenate(out) if out else np.zeros(0, np.float32)

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
        self.guard.reset()

    def _reference_for(self, mic_sample: int, now_ns: float) -> np.ndarray | object | None:
        """The speaker's samples paired with a microphone frame; None when nothing was played lately;
        _WAIT when they are due but not here yet and the frame may still wait."""
        if self.speaker.base_ns is None or self.microphone.base_ns is None:
            return None
        first = self.speaker.sample_at(self.microphone.time_of(mic_sample) + self.lead_ns)
        if first + self.frame > self._received and self._received - self._sounded <= self._tail:
            # the play actor still sends (it stops `tail_s` after the speaker went silent): these
            # samples are due, whether the speaker sounded or not
            if now_ns < self.microphone.time_of(mic_sample + self.frame) + self._wait_ns:
                if mic_sample != self._waiting:
                    self._waiting = mic_sample
                    self.waited += 1
                return _WAIT
            self.guard.missed()  # waited long enough: cancelled with what there is, blind a while
        if first - self._sounded > self._idle:
            return None
        samples = first + np.arange(self.frame, dtype=np.int64)
        slots = samples % len(self._ring)
        return np.where(self._slot[slots] == samples, self._ring[slots], 0).astype(np.int16)


_WAIT = object()
"""A frame's reference is due and not here yet."""
