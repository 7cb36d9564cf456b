"""A simulated room between the kiosk's speaker and its microphone, for the echo benchmark and the
echo cancellation tests.

`RoomSpeaker` and `RoomMicrophone` are the hardware edge, as subclasses of the real device classes:
the play actor fills the speaker in real time (20 ms blocks, heard `ahead_s` after the callback,
as a DAC buffer does), the room convolves what was heard with a decaying impulse response that
starts `delay_s` later, adds the visitor's scheduled lines and a faint noise floor, and the
microphone delivers that to the capture actor in real time. Both run at 16 kHz on one clock:
sample k of either is heard or captured at t0 + k / 16000 (monotonic).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from runtime.hardware.sound import InputDevice, OutputDevice
from runtime.speech.audio import SAMPLE_RATE

BLOCK = SAMPLE_RATE // 50
"""Samples per device callback (20 ms)."""


def impulse_response(delay_s: float, *, decay_s: float = 0.04, seed: int = 0) -> np.ndarray:
    """A room: nothing for delay_s, the direct sound, then a reverberant tail decaying with
    time constant decay_s (about as much energy as the direct sound); unit energy."""
    rng = np.random.default_rng(seed)
    length = int(5 * decay_s * SAMPLE_RATE)
    tail = rng.standard_normal(length) * np.exp(-np.arange(length) / (decay_s * SAMPLE_RATE)) * 0.05
    tail[0] = 1.0
    response = np.concatenate([np.zeros(int(delay_s * SAMPLE_RATE)), tail])
    return (response / np.sqrt(np.sum(response**2))).astype(np.float32)


def active_db(audio: np.ndarray) -> float:
    """The level of the audio where it sounds (20 ms frames above -50 dBFS; dBFS)."""
    frames = audio[: len(audio) - len(audio) % BLOCK].reshape(-1, BLOCK)
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    loud = power[power > 1e-5]
    return float(10 * np.log10(np.mean(loud))) if loud.size else -120.0


class Room:
    """The air between speaker and microphone, and the visitor standing in it."""

    def __init__(self, response: np.ndarray, *, echo_gain: float = 1.0, noise_db: float = -70.0,
                 history_s: float = 60.0) -> None:
        self.response = np.asarray(response, np.float32) * echo_gain
        self.noise = 10 ** (noise_db / 20)
        size = int(history_s * SAMPLE_RATE)
        self.played = np.zeros(size, np.float32)
        """What the speaker played, by sample (a ring)."""
        self.echo = np.zeros(size, np.float32)
        """The echo part of what the microphone captured, by sample (a ring)."""
        self.visitor = np.zeros(size, np.float32)
        """The visitor part of what the microphone captured, by sample (a ring)."""
        self._lines: list[tuple[int, np.ndarray]] = []
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(1)
        self.t0_ns = time.monotonic_ns() + 50_000_000
        """When sample 0 is heard and captured."""

    def sample_now(self) -> int:
        """The sample being heard now."""
        return int((time.monotonic_ns() - self.t0_ns) * SAMPLE_RATE // 1_000_000_000)

    def time_of(self, sample: int) -> int:
        """Monotonic time of a sample (ns)."""
        return self.t0_ns + sample * 1_000_000_000 // SAMPLE_RATE

    def say(self, audio: np.ndarray, at_sample: int) -> None:
        """The visitor speaks `audio` (16 kHz) from that sample on."""
        with self._lock:
            self._lines.append((at_sample, np.asarray(audio, np.float32)))

    def span(self, buffer: np.ndarray, start: int, length: int) -> np.ndarray:
        """Samples start..start+length of one of the room's rings (played, echo, visitor)."""
        idx = (start + np.arange(length)) % len(buffer)
        return buffer[idx]

    def play(self, start: int, block: np.ndarray) -> None:
        """The speaker plays a block from sample `start` on."""
        idx = (start + np.arange(len(block))) % len(self.played)
        self.played[idx] = block

    def capture(self, start: int, length: int) -> np.ndarray:
        """What the microphone hears from sample `start` on."""
        taps = len(self.response)
        history = self.span(self.played, start - taps + 1, length + taps - 1)
        echo = np.convolve(history, self.response, mode="valid").astype(np.float32)
        visitor = np.zeros(length, np.float32)
        with self._lock:
            lines = list(self._lines)
        for at, audio in lines:
            lo, hi = max(start, at), min(start + length, at + len(audio))
            if lo < hi:
                visitor[lo - start:hi - start] += audio[lo - at:hi - at]
        idx = (start + np.arange(length)) % len(self.echo)
        self.echo[idx], self.visitor[idx] = echo, visitor
        return echo + visitor + (self._rng.standard_normal(length) * self.noise).astype(np.float32)


class _Stream:
    active = True
    latency = 0.0


class _Paced:
    """A device thread calling back every 20 ms on the room's clock (catching up when late)."""

    def _start_pacing(self, room: Room) -> None:
        self.room, self._stream, self.rate = room, _Stream(), SAMPLE_RATE
        self.last_callback = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"room-{self._what}", daemon=True)

    def _run(self) -> None:
        block = max(0, self.room.sample_now()) // BLOCK
        while not self._stop.is_set():
            due_ns = self.room.time_of((block + 1) * BLOCK)
            wait_s = (due_ns - time.monotonic_ns()) / 1e9
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            self.last_callback = time.monotonic()
            self._block(block)
            block += 1

    def start(self) -> None:
        """Start calling back."""
        self._thread.start()

    def gone(self) -> bool:
        """The room's devices never go away: a test paused (SIGSTOP) or starved for a second is not an
        unplugged speaker (its thread catches up when it runs again)."""
        return False

    def close(self) -> None:
        """Stop calling back."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(1.0)


class RoomSpeaker(_Paced, OutputDevice):
    """The kiosk's speaker in the room: fill(out, dac_delay_s) every 20 ms, heard `ahead_s` later."""

    def __init__(self, room: Room, fill, *, ahead_s: float = 0.04) -> None:
        self._what, self.name, self._fill = "speaker", "room speaker", fill
        self._ahead = max(1, round(ahead_s * SAMPLE_RATE / BLOCK))
        self._start_pacing(room)

    def _block(self, block: int) -> None:
        start = (block + self._ahead) * BLOCK
        out = np.zeros(BLOCK, np.float32)
        self._fill(out, max(0.0, (self.room.time_of(start) - time.monotonic_ns()) / 1e9))
        self.room.play(start, out)


class RoomMicrophone(_Paced, InputDevice):
    """The kiosk's microphone in the room: take(block) every 20 ms with what it heard."""

    def __init__(self, room: Room, take) -> None:
        self._what, self.name, self._take = "microphone", "room microphone", take
        self._start_pacing(room)
        self.first = -1
        """The first sample delivered (the capture actor's sample 0)."""

    def _block(self, block: int) -> None:
        if self.first < 0:
            self.first = block * BLOCK
        self._take(self.room.capture(block * BLOCK, BLOCK))


def erle_db(room: Room, frames, first: int, start: int, end: int) -> float | None:
    """Echo return loss enhancement (dB) over room samples start..end where only the avatar's echo
    sounds: the echo's energy at the microphone over that of what capture published (`frames`:
    its AudioFrames; `first`: the room sample of capture's sample 0). None without such frames."""
    if end - start < BLOCK:
        return None
    after = np.zeros(end - start, np.float32)
    for frame in frames:
        at = first + frame.offset_samples - start
        if 0 <= at and at + len(frame.pcm) <= len(after):
            after[at:at + len(frame.pcm)] = frame.pcm / 32768.0
    whole = (end - start) // BLOCK * BLOCK
    e = room.span(room.echo, start, whole).reshape(-1, BLOCK).astype(np.float64)
    v = room.span(room.visitor, start, whole).reshape(-1, BLOCK)
    a = after[:whole].reshape(-1, BLOCK).astype(np.float64)
    only = (np.mean(e**2, axis=1) > 1e-6) & (np.max(np.abs(v), axis=1) == 0)
    if not only.any():
        return None
    return float(10 * np.log10(np.sum(e[only] ** 2) / max(np.sum(a[only] ** 2), 1e-12)))
