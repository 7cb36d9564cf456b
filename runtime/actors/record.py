"""record actor: an MP4 of what the visitor sees and hears, on the input's timeline.

t = 0 is the first input sample (or the first frame when there is no audio input). Video frames
are placed by the time they were shown; the avatar's speech by the time its samples were heard
(PlaybackStarted; cut where an interrupt stopped it). The soundtrack is stereo: left = what the
avatar said (what the visitor hears), right = the input (the visitor), when asked for.
"""

from __future__ import annotations

import logging

import numpy as np

from runtime.core.actor import Actor
from runtime.core.messages import AudioFrame, PlaybackFinished, PlaybackStarted, SpeechAudio, VideoFrame
from runtime.devices.media import Mp4Writer
from runtime.speech.audio import SAMPLE_RATE, VOICE_RATE, to_float, to_rate

_LOGGER = logging.getLogger(__name__)


class RecordActor(Actor):
    """Writes the recording incrementally (video) and at the end (audio)."""

    subscriptions = (VideoFrame, SpeechAudio, PlaybackStarted, PlaybackFinished, AudioFrame)
    drop_stale = False

    def __init__(self, name: str, bus, *, path: str, size: int, fps: int = 25, rate: int = VOICE_RATE,
                 include_input: bool = False, input_timeline: bool = False, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.path, self.size, self.fps, self.rate = path, size, fps, rate
        self.include_input = include_input
        self.input_timeline = input_timeline
        """Wait for the first input sample to start the timeline (frames before it are not kept)."""
        self.origin_ns: int | None = None
        self._writer: Mp4Writer | None = None
        self._next_index = 0
        self._last_frame: np.ndarray | None = None
        self._speech: dict[tuple[int, int, int], SpeechAudio] = {}
        self._placed: dict[tuple[int, int, int], tuple[int, np.ndarray]] = {}
        self._input = np.zeros(0, np.float32)

    def setup(self) -> None:
        """Open the file."""
        self._writer = Mp4Writer(self.path, width=self.size, height=self.size, fps=self.fps, sample_rate=self.rate,
                                 channels=2 if self.include_input else 1, threads=1)

    def handle(self, msg) -> None:
        """Place frames and sound on the timeline."""
        if isinstance(msg, AudioFrame):
            if self.origin_ns is None and msg.offset_samples == 0:
                self.origin_ns = msg.t_ns - int(len(msg.pcm) / msg.sample_rate * 1e9)
            if self.include_input:
                end = msg.offset_samples + len(msg.pcm)
                if end > len(self._input):
                    self._input = np.concatenate([self._input, np.zeros(end - len(self._input), np.float32)])
                self._input[msg.offset_samples:end] = to_float(msg.pcm)
        elif isinstance(msg, VideoFrame):
            self._frame(msg)
        elif isinstance(msg, SpeechAudio) and not msg.last:
            self._speech[(msg.turn, msg.index, msg.part)] = msg
        elif isinstance(msg, PlaybackStarted):
            piece = self._speech.pop((msg.turn, msg.index, msg.part), None)
            if piece is not None and self.origin_ns is not None:
                start = int((msg.heard_ns - self.origin_ns) / 1e9 * piece.sample_rate)
                self._placed[(msg.turn, msg.index, msg.part)] = (start, to_float(piece.pcm))
        elif isinstance(msg, PlaybackFinished) and msg.interrupted and self.origin_ns is not None:
            key = (msg.turn, msg.index, msg.part)
            if key in self._placed:
                start, audio = self._placed[key]
                heard = int((msg.heard_ns - self.origin_ns) / 1e9 * self.rate) - start
                self._placed[key] = (start, audio[: max(0, heard)])

    def _frame(self, msg: VideoFrame) -> None:
        if self.origin_ns is None:
            if self.input_timeline:
                return
            self.origin_ns = msg.shown_ns
        index = round((msg.shown_ns - self.origin_ns) / 1e9 * self.fps)
        if index < self._next_index:
            self._last_frame = np.array(msg.rgb)
            return
        while self._next_index <= index:  # a late frame repeats the last one: the timeline holds
            frame = self._last_frame if self._next_index < index and self._last_frame is not None else msg.rgb
            self._writer.write_video(frame, self._next_index)
            self._next_index += 1
        self._last_frame = np.array(msg.rgb)

    def teardown(self) -> None:
        """Write the soundtrack and finish the file."""
        if self._writer is None:
            return
        length = int(self._next_index / self.fps * self.rate)
        avatar = np.zeros(length, np.float32)
        for start, audio in self._placed.values():
            end = min(length, start + len(audio))
            if end > start >= 0:
                avatar[start:end] += audio[: end - start]
        if self.include_input:
            visitor = to_rate(self._input, SAMPLE_RATE, self.rate) if len(self._input) else np.zeros(0, np.float32)
            visitor = np.pad(visitor, (0, max(0, length - len(visitor))))[:length]
            self._writer.write_audio(np.stack([avatar, visitor], axis=1))
        else:
            self._writer.write_audio(avatar)
        self._writer.close()
        _LOGGER.info("recorded %s: %.1f s", self.path, self._next_index / self.fps)
