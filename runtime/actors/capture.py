"""capture actor: where the visitor's input comes from — console lines, an audio file, a microphone.

Audio sources publish 20 ms frames of 16 kHz mono int16 PCM (`AudioFrame`) whose
`offset_samples` count from the first captured sample: the input timeline. With [presence]
require_presence, an audio source sends silence while nobody stands in front of the kiosk (the
timeline goes on; background talk never reaches the recogniser).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import BinaryIO, TextIO

import numpy as np

from runtime.config import ConsoleCapture, FileCapture, MicrophoneCapture
from runtime.core.actor import Actor
from runtime.core.errors import CaptureFault
from runtime.core.limits import clean_text
from runtime.core.messages import (
    AudioFrame,
    EchoReference,
    InputEnded,
    Interrupt,
    InterruptReason,
    Transcript,
    Visitor,
    VisitorChange,
)
from runtime.core.reopen import Reopener
from runtime.core.threads import Inbox
from runtime.speech.audio import SAMPLE_RATE, read_audio, to_int16

_LOGGER = logging.getLogger(__name__)

_MAX_LINE_BYTES = 64 * 2**10
"""A typed line longer than this is cut here (its text is then bounded by clean_text)."""

FRAME = SAMPLE_RATE // 50
"""Samples per published frame (20 ms)."""
_BURST_FRAMES = 50
"""Frames a file source sends per tick when unpaced (caps it at 50x real time)."""


class ConsoleSource(Actor):
    """Typed lines are the visitor's words; each line starts a new turn (and interrupts the last)."""

    @classmethod
    def from_config(cls, name: str, bus, cfg: ConsoleCapture, *, stdin=None, **kwargs) -> ConsoleSource:
        """The source for a [capture] type = "console" section (stdin: the stream to read)."""
        return cls(name, bus, stream=stdin, **kwargs)

    def __init__(self, name: str, bus, *, stream: TextIO | BinaryIO | None = None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.stream = stream if stream is not None else sys.stdin
        self._fd = -1
        self._pending = b""

    def setup(self) -> None:
        """Watch the stream's file descriptor (reads never block the loop)."""
        self._fd = self.stream.fileno()
        self.watch(self._fd, self._readable)

    def _readable(self) -> None:
        data = os.read(self._fd, 65536)
        if not data:
            self.unwatch(self._fd)
            self._line(self._pending)
            self._pending = b""
            _LOGGER.info("console input closed")
            self.publish(InputEnded(turn=self.turn, source="console"))
            return
        *lines, self._pending = (self._pending + data).split(b"\n")
        if len(self._pending) > _MAX_LINE_BYTES:  # a line without end: taken as it is, never held without bound
            lines.append(self._pending)
            self._pending = b""
        for line in lines:
            self._line(line)

    def _line(self, raw: bytes) -> None:
        text = clean_text(raw.decode("utf-8", "replace"))
        if not text:
            return
        self.open_turn()
        self.publish(Interrupt(turn=self.turn, reason=InterruptReason.NEW_INPUT))
        self.publish(Transcript(turn=self.turn, text=text, source="console"))


class AudioSource(Actor):
    """Base of audio sources: cuts audio into 20 ms frames on the input timeline and publishes them."""

    source = "audio"
    controls = (Interrupt, Visitor)

    def __init__(self, name: str, bus, *, require_presence: bool = False, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self._offset = 0
        self._carry = np.zeros(0, np.int16)
        self.require_presence = require_presence
        self.visitor_present = False

    def on_control(self, msg) -> None:
        """Follow whether a visitor is present (for require_presence)."""
        if isinstance(msg, Visitor):
            self.visitor_present = msg.change != VisitorChange.LEFT

    def emit(self, audio: np.ndarray) -> None:
        """Publish 16 kHz mono float32 audio as whole frames (a remainder waits for more); silence
        instead while presence is required and nobody is there."""
        if self.require_presence and not self.visitor_present:
            audio = np.zeros(len(audio), np.float32)
        pcm = np.concatenate([self._carry, to_int16(audio)])
        whole = len(pcm) - len(pcm) % FRAME
        for start in range(0, whole, FRAME):
            self.publish(AudioFrame(turn=self.turn, pcm=pcm[start:start + FRAME], offset_samples=self._offset))
            self._offset += FRAME
        self._carry = pcm[whole:]


class FileSource(AudioSource):
    """An audio file played into the pipeline, paced in real time (speed 1) or faster."""

    tick_interval_s = 0.01
    source = "file"

    @classmethod
    def from_config(cls, name: str, bus, cfg: FileCapture, *, stdin=None, **kwargs) -> FileSource:
        """The source for a [capture] type = "file" section."""
        return cls(name, bus, path=cfg.path, speed=cfg.speed, tail_silence_s=cfg.tail_silence_s, **kwargs)

    def __init__(self, name: str, bus, *, path: str, speed: float = 1.0, tail_silence_s: float = 1.0,
                 **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.path = path
        self.speed = speed
        """1 = real time, 2 = twice as fast, 0 = unpaced (bounded at 50x)."""
        self.tail_silence_s = tail_silence_s
        self._audio = np.zeros(0, np.float32)
        self._started = 0.0
        self._done = False

    def setup(self) -> None:
        """Decode the whole file up front so a bad file fails at start, not mid-conversation."""
        audio = read_audio(self.path)
        self._audio = np.concatenate([audio, np.zeros(int(self.tail_silence_s * SAMPLE_RATE), np.float32)])
        self._started = time.monotonic()
        _LOGGER.info("input: %s (%.1f s) at %s", self.path, len(audio) / SAMPLE_RATE,
                     f"{self.speed:g}x" if self.speed else "full speed")

    def tick(self) -> None:
        """Publish the frames that are due."""
        if self._done:
            return
        if self.speed > 0:
            due = int((time.monotonic() - self._started) * self.speed * SAMPLE_RATE)
        else:
            due = self._offset + _BURST_FRAMES * FRAME
        due = min(due - due % FRAME, len(self._audio))
        if due > self._offset:
            self.emit(self._audio[self._offset:due])
        if self._offset >= len(self._audio) - FRAME + 1:
            self._done = True
            self.publish(InputEnded(turn=self.turn, source=self.source))
            _LOGGER.info("input: end of %s", self.path)


class MicrophoneSource(AudioSource):
    """A microphone (runtime.hardware.sound.InputDevice), resampled with soxr when the device does
    not run at 16 kHz. A microphone that goes away (unplugged, driver failure) is reported once
    (capture-device-lost: the actor is degraded, the rest of the product goes on) and reopened
    every few seconds until it is back.

    With echo_cancel, what the speaker plays (EchoReference from the play actor) is taken out of
    each block before it is published (runtime.speech.aec), so listening never hears the avatar's
    own voice. Without the canceller's library the microphone goes on uncancelled: the actor is
    degraded (capture-echo-cancel-missing) and listen's echo policy alone guards barge-in."""

    source = "microphone"
    tick_interval_s = 0.5
    retry_s = 2.0
    drop_stale = False  # the speaker's echo is not tied to a turn

    @classmethod
    def from_config(cls, name: str, bus, cfg: MicrophoneCapture, *, stdin=None, **kwargs) -> MicrophoneSource:
        """The source for a [capture] type = "microphone" section."""
        return cls(name, bus, device=cfg.device or None, device_rate=cfg.device_rate or None,
                   echo_cancel=cfg.echo_cancel, **kwargs)

    def __init__(self, name: str, bus, *, device: str | int | None = None, device_rate: int | None = None,
                 input_factory=None, echo_cancel: bool = False, canceller_factory=None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        from runtime.hardware.sound import InputDevice

        self.device = device
        self.device_rate = device_rate
        self.echo_cancel = echo_cancel
        self.subscriptions = (EchoReference,) if echo_cancel else ()
        self._canceller_factory = canceller_factory
        self._canceller = None
        self._input_factory = input_factory or InputDevice
        self._blocks: Inbox[np.ndarray] | None = None
        self._input = None
        self._resampler = None
        self._microphone = Reopener(self, "microphone", _LOGGER)

    def setup(self) -> None:
        """Open the device (clear error listing the devices when it is missing or busy)."""
        self._blocks = self.inbox(self._block)
        if self.echo_cancel:
            self._canceller = self._cancelling()
        self._open()
        _LOGGER.info("input: microphone %r at %d Hz%s", self._input.name, self._input.rate,
                     ", echo cancelled" if self._canceller is not None else "")

    def _cancelling(self):
        """The echo canceller, or None (degraded, logged once) when its library is missing."""
        from runtime.speech.aec import EchoCanceller

        try:
            if self._canceller_factory is not None:
                return self._canceller_factory()
            from runtime.engines.aec_webrtc import WebRtcCanceller

            return EchoCanceller(WebRtcCanceller())
        except CaptureFault as fault:
            if fault.code != "capture-echo-cancel-missing":
                raise
            _LOGGER.error("%s; the microphone goes on without it (hint: %s)", fault.message, fault.hint)
            self.degrade(fault)
            return None

    def handle(self, msg) -> None:
        """What the speaker plays: the echo to take out of the microphone's audio."""
        if self._canceller is not None and isinstance(msg, EchoReference):
            self.emit(self._canceller.reference(msg))  # the microphone's frames that waited for it

    def _open(self) -> None:
        import soxr

        # PortAudio's thread hands each block over, stamped, and wakes the actor, nothing else
        self._input = self._input_factory(self.device, self._stamped, rate=self.device_rate)
        rate = self._input.rate
        self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32") if rate != SAMPLE_RATE else None
        self._input.start()

    def tick(self) -> None:
        """Notice a microphone that went away; reopen it until it is back."""
        if self._input is not None and self._input.gone():
            self._input.close()
            self._input = None
            self._microphone.lost(CaptureFault("capture-device-lost", "the microphone stopped delivering sound",
                                               "check its cable or USB port; it is reopened as soon as it is back"),
                                  f"the microphone went away; retrying every {self.retry_s:.0f} s")
        else:
            self._microphone.retry(self._reopen)

    def _reopen(self) -> str:
        self._open()
        return self._input.name

    def _stamped(self, block: np.ndarray) -> None:
        """PortAudio's thread: the block and when its first sample was captured (monotonic ns)."""
        input_ = self._input
        ago_s = len(block) / input_.rate + getattr(input_, "latency_s", 0.0) if input_ is not None else 0.0
        self._blocks.put((block, time.monotonic_ns() - int(ago_s * 1e9)))

    def _block(self, stamped: tuple[np.ndarray, int]) -> None:
        block, captured_ns = stamped
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block)
        if self._canceller is not None:
            block = self._canceller.cancel(block, captured_ns)
        self.emit(block)

    def teardown(self) -> None:
        """Close the stream."""
        if self._input is not None:
            self._input.close()

