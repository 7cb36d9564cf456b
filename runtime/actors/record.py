"""record actor: MP4 files of what the visitor sees and hears, on the input's timeline.

t = 0 is the first input sample (or the first frame when there is no audio input). Video frames
are placed by the time they were shown; the avatar's speech by the time its samples were heard
(PlaybackStarted; cut where an interrupt stopped it). The soundtrack is at RATE whatever the
voice's rate, stereo when the input is recorded too: left = what the avatar said (what the
visitor hears), right = the input (the visitor).

A recorder short of CPU never lets frames pile up (each is 0.8 MB at 512x512): a frame is encoded
only when no other message waits, a newer frame replaces one not yet encoded, and the gap on the
timeline holds the last frame written (a repeated frame, without encoding it again), so memory
stays a few frames whatever the encoder's pace, and the soundtrack stays complete and in sync.

Everything is written as it happens: sound lags the video by LAG_S (time for a playback report
to arrive), so stopping only flushes the last fraction of a second, and the files are fragmented
MP4s, playable after a kill. Files rotate and are pruned by the Recordings series; a full disk
stops recording with one error (record-disk-full) while the conversation goes on.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from runtime.core.actor import Actor
from runtime.core.errors import RecordFault
from runtime.core.messages import (
    AudioFrame,
    Interrupt,
    PlaybackFinished,
    PlaybackStarted,
    SpeechAudio,
    VideoFrame,
)
from runtime.hardware.media import Mp4Writer
from runtime.speech.audio import SAMPLE_RATE, to_float, to_rate
from runtime.store.recordings import Recordings

_LOGGER = logging.getLogger(__name__)

RATE = 24000
"""Soundtrack sample rate (hertz): both voices' bandwidth, a whole number of samples per frame."""
LAG_S = 0.5
"""How far the soundtrack is written behind the video (seconds)."""
_MAX_WAITING = 64
"""Synthesized pieces kept until they are played (older ones are dropped)."""
_MAX_REPEATS = 2
"""A longer gap on the timeline is held (players show the last frame until the next one) rather
than encoded again frame by frame: a recorder that fell behind costs no extra encoding."""
_DRAIN_MAX = 2000
"""Messages still queued at stop that are written before the file is finished (at most)."""
_DRAIN_S = 1.0
"""...and for at most this long (the stop budget is 3 s)."""


class RecordActor(Actor):
    """Writes the recording as it happens, file after file of the series."""

    subscriptions = (VideoFrame, SpeechAudio, PlaybackStarted, PlaybackFinished, AudioFrame)
    drop_stale = False
    nice = 10
    """Encoding is for later viewing: the answer the visitor waits for comes first."""

    def __init__(self, name: str, bus, *, recordings: Recordings, size: int, fps: int = 25,
                 include_input: bool = False, input_timeline: bool = False, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.recordings, self.size, self.fps = recordings, size, fps
        self.include_input = include_input
        self.input_timeline = input_timeline
        """Wait for the input to start the timeline (frames before it are not kept)."""
        self.origin_ns: int | None = None
        self._writer: Mp4Writer | None = None
        self._path = None
        self._base_frame = 0
        """Frame index (on the timeline) where the current file starts."""
        self._next_index: int | None = None
        """Next frame index to write (on the timeline); None before the first frame."""
        self._last_frame: np.ndarray | None = None
        self._last_index, self._last_at = -1, -1.0
        """The timeline index the last frame kept was shown at, and its exact place (in frames)."""
        self._pending: tuple[int, np.ndarray, float] | None = None
        """The newest frame not yet encoded, its index on the timeline and its exact place."""
        self._written = -1
        """Index (on the timeline) of the last frame given to the encoder."""
        self._audio_at = 0
        """Soundtrack written up to this sample (on the timeline, at RATE)."""
        self._waiting: dict[tuple[int, int, int], SpeechAudio] = {}
        self._placed: dict[tuple[int, int, int], tuple[int, np.ndarray]] = {}
        """Pieces heard: start sample on the timeline, samples at RATE not yet written."""
        self._input = _InputTrack() if include_input else None
        self._stopped = False
        self._joined_late = False
        self.frames_seen = 0
        """Video frames received (written or not)."""

    @property
    def recorded_s(self) -> float:
        """Seconds of the timeline written so far."""
        return 0.0 if self._next_index is None else self._next_index / self.fps

    def setup(self) -> None:
        """Open the first file now, so a target that cannot be written fails at start."""
        self._open(0)

    def handle(self, msg) -> None:
        """Place frames and sound on the timeline."""
        if self._stopped:
            return
        try:
            if isinstance(msg, AudioFrame):
                self._audio_in(msg)
            elif isinstance(msg, VideoFrame):
                self._frame(msg)
            elif isinstance(msg, SpeechAudio) and not msg.last and msg.turn >= self.turn:
                self._waiting[(msg.turn, msg.index, msg.part)] = msg
                while len(self._waiting) > _MAX_WAITING:
                    self._waiting.pop(next(iter(self._waiting)))
            elif isinstance(msg, PlaybackStarted):
                self._heard(msg)
            elif isinstance(msg, PlaybackFinished) and msg.interrupted:
                self._cut(msg)
            if self._pending is not None and not self.input_waiting():
                self._write_pending()
        except RecordFault as fault:
            self._give_up(fault)

    def on_interrupt(self, msg: Interrupt) -> None:
        """Speech of older turns that was not played will not be."""
        self._waiting = {k: v for k, v in self._waiting.items() if k[0] >= msg.turn}

    def teardown(self) -> None:
        """Write the last fraction of a second and finish the file."""
        if self._writer is None:
            return
        deadline = time.monotonic() + _DRAIN_S
        for _ in range(_DRAIN_MAX):  # what was shown and heard up to the stop belongs in the file
            if not self.input_waiting() or time.monotonic() > deadline:  # a starved thread stops in time
                break
            msg = self.receive_waiting()
            if msg is not None:
                self.handle(msg)
        if self._writer is None:  # the drain hit a write fault (reported)
            return
        try:
            if self._pending is not None:
                self._write_pending()
            if self._next_index is not None:
                self._commit_audio(self._frame_sample(self._next_index))
                self._end_hold(self._next_index)
            self._close()
        except RecordFault as fault:
            self._give_up(fault)

    # --- timeline ----------------------------------------------------------------------------

    def _audio_in(self, msg: AudioFrame) -> None:
        end = msg.offset_samples + len(msg.pcm)
        if self.origin_ns is None:
            # Input sample 0 is t = 0; a recorder restarted mid-run joins later on the same timeline.
            self.origin_ns = msg.t_ns - int(end / msg.sample_rate * 1e9)
            self._joined_late = msg.offset_samples > 0
        if self._input is not None:
            self._input.add(msg.offset_samples, to_float(msg.pcm))

    def _frame(self, msg: VideoFrame) -> None:
        self.frames_seen += 1
        if self.origin_ns is None:
            if self.input_timeline:
                return
            self.origin_ns = msg.shown_ns
        at = (msg.shown_ns - self.origin_ns) / 1e9 * self.fps
        index = round(at)
        if self._next_index is None:  # the first frame of this recorder
            # From t = 0 (frames before the first one repeat it), or from now when joining late.
            self._base_frame = self._next_index = max(0, index) if self._joined_late else 0
            self._audio_at = self._frame_sample(self._base_frame)
            if self._input is not None:
                self._input.skip_to(self._audio_at)
        if index < self._next_index:
            self._last_frame, self._last_index, self._last_at = np.array(msg.rgb), index, at
            return
        if self._pending is not None and self._pending[0] > self._written:  # behind: it is skipped, and
            # the gap shows the nearest frame before this one
            self._last_index, self._last_frame, self._last_at = self._pending[0], np.array(self._pending[1]), \
                self._pending[2]
        self._pending = (index, msg.rgb, at)  # encoded once no other message waits

    def _write_pending(self) -> None:
        """Encode the newest frame. Each index of the gap before it shows the nearer of the two
        frames in time: the older one up to the middle of the gap, the newer one from there. A
        recorder that fell behind (or a face that drew late) then neither lags nor leads the sound
        on average, where holding the older frame over the whole gap made the lips late."""
        index, rgb, at = self._pending
        self._pending = None
        if self._last_frame is not None:  # the middle between the two frames' times (not their rounded indices)
            split = min(index, max(self._next_index, math.floor((self._last_at + at) / 2) + 1))
            self._fill(self._last_frame, split, encoded=self._written == self._last_index)
        self._fill(rgb, index + 1, encoded=False)
        self._last_frame, self._last_index, self._last_at = np.array(rgb), index, at

    def _fill(self, frame: np.ndarray, end: int, *, encoded: bool) -> None:
        """Indices from the next one up to `end` show `frame`: encoded once unless it was the last
        frame encoded, then held (players show the last frame until the next one; a second at a
        time: files rotate) or, for a short gap, encoded again."""
        while self._next_index < end:
            if encoded and end - self._next_index > _MAX_REPEATS and self._written >= self._base_frame:
                self._advance(min(end, (self._next_index // self.fps + 1) * self.fps))
                continue
            self._writer.write_video(frame, self._next_index - self._base_frame)
            self._written = self._next_index
            self._advance(self._next_index + 1)
            encoded = True

    def _advance(self, index: int) -> None:
        """The video stands at frame `index`: write the sound a second at a time, rotate files."""
        crossed = index // self.fps > self._next_index // self.fps
        self._next_index = index
        if crossed:
            self._commit_audio(self._frame_sample(index) - int(LAG_S * RATE))
            self._maybe_rotate()

    def _frame_sample(self, index: int) -> int:
        return round(index * RATE / self.fps)

    def _heard(self, msg: PlaybackStarted) -> None:
        piece = self._waiting.pop((msg.turn, msg.index, msg.part), None)
        if piece is None or self.origin_ns is None:
            return
        audio = to_rate(to_float(piece.pcm), piece.sample_rate, RATE)
        start = round((msg.heard_ns - self.origin_ns) / 1e9 * RATE)
        if start < self._audio_at:  # reported late: the part already written is lost
            _LOGGER.warning("the recording lost the first %.0f ms of a piece of speech (its report came late)",
                            (self._audio_at - start) / RATE * 1000)
            audio, start = audio[self._audio_at - start:], self._audio_at
        self._placed[(msg.turn, msg.index, msg.part)] = (start, audio)

    def _cut(self, msg: PlaybackFinished) -> None:
        key = (msg.turn, msg.index, msg.part)
        if key in self._placed and self.origin_ns is not None:
            start, audio = self._placed[key]
            heard = round((msg.heard_ns - self.origin_ns) / 1e9 * RATE) - start
            self._placed[key] = (start, audio[: max(0, heard)])

    def _commit_audio(self, until: int) -> None:
        """Write the soundtrack from where it stands up to sample `until` (on the timeline)."""
        if until <= self._audio_at:
            return
        avatar = np.zeros(until - self._audio_at, np.float32)
        for key, (start, audio) in list(self._placed.items()):
            lo, hi = max(start, self._audio_at), min(start + len(audio), until)
            if hi > lo:
                avatar[lo - self._audio_at:hi - self._audio_at] += audio[lo - start:hi - start]
            if start + len(audio) <= until:
                del self._placed[key]
            elif start < until:
                self._placed[key] = (until, audio[until - start:])
        if self._input is not None:
            track = np.stack([avatar, self._input.take(self._audio_at, until)], axis=1)
        else:
            track = avatar
        self._audio_at = until
        self._writer.write_audio(track)

    # --- files -------------------------------------------------------------------------------

    def _open(self, base_frame: int) -> None:
        self._path = self.recordings.next_path()
        self._writer = Mp4Writer(self._path, width=self.size, height=self.size, fps=self.fps, sample_rate=RATE,
                                 channels=2 if self.include_input else 1, threads=1, live=True)
        self._base_frame = base_frame

    def _maybe_rotate(self) -> None:
        retention = self.recordings.retention
        seconds = (self._next_index - self._base_frame) / self.fps
        if seconds < retention.segment_s and self._writer.size_bytes() < retention.max_file_mb * 2**20:
            return
        boundary = self._next_index
        self._commit_audio(self._frame_sample(boundary))
        self._end_hold(boundary)
        self._close()
        self._open(boundary)

    def _end_hold(self, end: int) -> None:
        """A file whose video ends on a held frame shows it once more at its last index (end - 1),
        so the picture lasts as long as the sound."""
        if self._last_frame is not None and self._base_frame <= self._written < end - 1:
            self._writer.write_video(self._last_frame, end - 1 - self._base_frame)
            self._written = end - 1

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        writer.close()
        _LOGGER.info("recorded %s: %.1f s", writer.path, writer.audio_samples / RATE)

    def _give_up(self, fault: RecordFault) -> None:
        """Stop recording for good (the conversation goes on); say so once."""
        self._stopped = True
        _LOGGER.error("%s", fault.as_text())
        self.degrade(fault)
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except RecordFault:
                pass  # already reported


class _InputTrack:
    """The visitor's audio at RATE on the timeline, kept only until written (bounded)."""

    def __init__(self) -> None:
        import soxr

        self._stream = soxr.ResampleStream(SAMPLE_RATE, RATE, 1, dtype="float32", quality="HQ")
        self._next_in: int | None = None
        """Next input sample (16 kHz) expected."""
        self._buffer = np.zeros(0, np.float32)
        self._buffer_at = 0
        """Timeline sample (at RATE) of the buffer's first sample."""

    def add(self, offset: int, samples: np.ndarray) -> None:
        """Input samples at `offset` (16 kHz); input sample 0 is timeline sample 0."""
        if self._next_in is None:  # the first input this recorder sees (later than 0 after a restart)
            self._next_in, self._buffer_at = offset, offset * RATE // SAMPLE_RATE
        if offset > self._next_in:  # a gap in the input: silence
            samples = np.concatenate([np.zeros(offset - self._next_in, np.float32), samples])
        elif offset < self._next_in:
            samples = samples[self._next_in - offset:]
        self._next_in += len(samples)
        out = self._stream.resample_chunk(samples.astype(np.float32, copy=False))
        self._buffer = np.concatenate([self._buffer, out])
        cap = 120 * RATE  # never more than two minutes waiting (the video stalled)
        if len(self._buffer) > cap:
            self._buffer_at += len(self._buffer) - cap
            self._buffer = self._buffer[-cap:]

    def skip_to(self, at: int) -> None:
        if at > self._buffer_at:
            drop = min(len(self._buffer), at - self._buffer_at)
            self._buffer = self._buffer[drop:]
            self._buffer_at = at

    def take(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the timeline (silence where there was no input)."""
        out = np.zeros(end - start, np.float32)
        lo, hi = max(start, self._buffer_at), min(end, self._buffer_at + len(self._buffer))
        if hi > lo:
            out[lo - start:hi - start] = self._buffer[lo - self._buffer_at:hi - self._buffer_at]
        self.skip_to(end)
        return out
