"""listen actor: VAD + ASR. Audio frames in; SpeechStarted (barge-in), partials and finals out.

Three Silero detectors watch the same audio:
- `main` decides utterances: onset after min_speech_s, endpoint after min_silence_s of silence;
- `pause` has a short silence time: when the visitor pauses, the utterance so far is decoded
  speculatively, so at the endpoint the final is usually ready or nearly so;
- `barge` is stricter (higher threshold, longer minimum speech) and is used while the avatar
  speaks (self-echo policy below).

Self-echo policy. While the avatar is speaking (between PlaybackStarted and PlaybackFinished,
plus echo_tail_s for room reverb), speech counts as the visitor only when the strict detector
hears it AND its level over the last barge_in_min_speech_s is at least barge_in_min_dbfs. The
avatar's voice reaching the microphone from the speaker is quieter than a visitor talking to the
kiosk, so it is ignored; a visitor who talks over the avatar is heard after about
barge_in_min_speech_s. Utterances not accepted this way are dropped, never transcribed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from runtime.core.actor import Actor
from runtime.core.messages import (
    AudioFrame,
    InputEnded,
    Interrupt,
    PlaybackFinished,
    PlaybackStarted,
    SpeechStarted,
    Transcript,
)
from runtime.core.threads import Waker
from runtime.engines.asr import AsrResult
from runtime.speech.audio import SAMPLE_RATE, dbfs, to_float
from runtime.speech.decoder import DecodeWorker, Done, Job, JobKind

_LOGGER = logging.getLogger(__name__)

_SPECULATION_SLACK = int(0.1 * SAMPLE_RATE)
"""A speculative decode counts if speech ended at most this long after its audio (samples)."""
_TRAILING = int(0.2 * SAMPLE_RATE)
"""Silence kept after the end of speech in a final's audio (samples)."""
_PREROLL_S = 0.3
"""Audio kept before the detected onset, which the detector reports late (seconds)."""


@dataclass
class _Utterance:
    id: int
    onset: int
    """Input-timeline sample where speech began (estimated)."""
    during_playback: bool
    accepted: bool = False
    turn: int = 0
    end: int = 0
    endpoint_at: float = 0.0
    """Monotonic time the endpoint was detected (0 while still speaking)."""
    next_partial_at: float = 0.0
    speculative_end: int = -1
    speculative: AsrResult | None = None


class ListenActor(Actor):
    """Voice activity detection, the barge-in signal and transcription."""

    abandon_on_stop = True
    subscriptions = (AudioFrame, PlaybackStarted, PlaybackFinished, InputEnded)
    drop_stale = False  # audio and playback state are not tied to a turn

    def __init__(self, name: str, bus, *, asr_factory, vad_factory, settings, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.settings = settings
        self._asr_factory = asr_factory
        self._vad_factory = vad_factory
        self._store = np.zeros(30 * SAMPLE_RATE, np.float32)
        self._filled = 0
        self._buffer_start = 0
        """Input-timeline sample of _buffer[0]."""
        self._playing = False
        self._echo_until = 0.0
        self._current: _Utterance | None = None
        self._finishing: dict[int, _Utterance] = {}
        self._ids = 0
        self._vad_base: int | None = None
        """Input-timeline sample of the detectors' sample 0."""
        self._worker: DecodeWorker | None = None
        self._waker: Waker | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def setup(self) -> None:
        """Load the detectors and the ASR engine; start the decode thread."""
        s = self.settings
        self.main = self._vad_factory(threshold=s.threshold, min_silence_s=s.min_silence_s,
                                      min_speech_s=s.min_speech_s, max_speech_s=s.max_utterance_s)
        self.pause = self._vad_factory(threshold=s.threshold, min_silence_s=s.pause_s,
                                       min_speech_s=s.min_speech_s, max_speech_s=s.max_utterance_s)
        self.barge = self._vad_factory(threshold=s.barge_in_threshold, min_silence_s=s.min_silence_s,
                                       min_speech_s=s.barge_in_min_speech_s, max_speech_s=s.max_utterance_s)
        self._waker = self.waker(self._collect)
        engine = self._asr_factory()
        engine.transcribe(np.zeros(SAMPLE_RATE, np.float32), "en")  # first decode pays one-off set-up costs
        self._worker = DecodeWorker(engine, s.language, self._waker)

    def teardown(self) -> None:
        """Stop the decode thread."""
        if self._worker is not None:
            self._worker.close(timeout_s=0.2)  # a decode in progress is not waited for

    # --- input ------------------------------------------------------------------------------

    def handle(self, msg) -> None:
        """Route audio, playback state and end of input."""
        if isinstance(msg, AudioFrame):
            self._audio(msg)
        elif isinstance(msg, PlaybackStarted):
            self._playing = True
        elif isinstance(msg, PlaybackFinished):
            self._playing = False
            self._echo_until = time.monotonic() + self.settings.echo_tail_s
        elif isinstance(msg, InputEnded):
            self._endpoints(self.main.flush())

    def _audio(self, frame: AudioFrame) -> None:
        audio = to_float(frame.pcm)
        if self._vad_base is None:
            self._vad_base = self._buffer_start = frame.offset_samples
        self._append(audio)
        for vad in (self.main, self.pause, self.barge):
            vad.accept(audio)
        now_sample = self._buffer_start + len(self._buffer)
        # While the avatar talks, the quicker strict detector may open the utterance: a barge-in
        # should not wait for the normal minimum speech time.
        if self._current is None and (self.main.speaking or (self._echo_policy_on() and self.barge.speaking)):
            self._onset(now_sample)
        utt = self._current
        if utt is not None and not utt.accepted:
            self._consider(utt)
        if utt is not None and utt.accepted:
            self._maybe_partial(utt, now_sample)
        if self.pause.segments() and utt is not None and utt.accepted and self.main.speaking:
            self._speculate(utt, now_sample)
        self._endpoints(self.main.segments())
        self._trim()

    # --- utterances -------------------------------------------------------------------------

    def _onset(self, now_sample: int) -> None:
        s = self.settings
        self._ids += 1
        lookback = int((s.min_speech_s + _PREROLL_S) * SAMPLE_RATE)
        playing = self._echo_policy_on()
        self._current = _Utterance(self._ids, max(self._buffer_start, now_sample - lookback), playing)

    def _echo_policy_on(self) -> bool:
        return self._playing or time.monotonic() < self._echo_until

    def _consider(self, utt: _Utterance) -> None:
        """Accept an utterance at once, or during playback only when it passes the echo policy."""
        s = self.settings
        if utt.during_playback:
            recent = self._buffer[-int(s.barge_in_min_speech_s * SAMPLE_RATE):]
            if not self.barge.speaking or dbfs(recent) < s.barge_in_min_dbfs:
                return
        utt.accepted = True
        utt.turn = self.open_turn()
        utt.next_partial_at = time.monotonic() + s.partial_interval_s
        reason = "barge-in" if utt.during_playback else "speech"
        self.publish(Interrupt(turn=utt.turn, reason=reason))
        self.publish(SpeechStarted(turn=utt.turn, start_s=utt.onset / SAMPLE_RATE,
                                   during_playback=utt.during_playback))
        _LOGGER.info("turn %d: speech started at %.2f s (%s)", utt.turn, utt.onset / SAMPLE_RATE, reason)

    def _maybe_partial(self, utt: _Utterance, now_sample: int) -> None:
        now = time.monotonic()
        if now >= utt.next_partial_at and self._submit(JobKind.PARTIAL, utt, now_sample):
            utt.next_partial_at = now + self.settings.partial_interval_s

    def _speculate(self, utt: _Utterance, now_sample: int) -> None:
        if self._submit(JobKind.SPECULATIVE, utt, now_sample):
            utt.speculative_end, utt.speculative = now_sample, None

    def _endpoints(self, segments) -> None:
        for segment in segments:
            utt, self._current = self._current, None
            if utt is None or not utt.accepted:
                _LOGGER.debug("dropped a %.2f s utterance (echo policy)", len(segment.samples) / SAMPLE_RATE)
                continue
            speech_end = self._vad_base + segment.end
            utt.onset = min(utt.onset, self._vad_base + segment.start)
            utt.end = min(speech_end + _TRAILING, self._buffer_start + len(self._buffer))
            utt.endpoint_at = time.monotonic()
            self._finishing[utt.id] = utt
            if utt.speculative_end >= speech_end - _SPECULATION_SLACK:
                if utt.speculative is not None:
                    self._final(utt, utt.speculative)
            else:
                utt.speculative_end = -1
                self._submit(JobKind.FINAL, utt, utt.end)

    def _submit(self, kind: JobKind, utt: _Utterance, end: int) -> bool:
        start = max(utt.onset, self._buffer_start) - self._buffer_start
        audio = self._buffer[start:end - self._buffer_start].copy()
        queued = self._worker.submit(Job(kind, utt.id, audio, end))
        _LOGGER.debug("turn %d: %s decode of %.2f s %s", utt.turn, kind.name, len(audio) / SAMPLE_RATE,
                      "queued" if queued else "skipped (busy)")
        return queued

    # --- results ----------------------------------------------------------------------------

    def _collect(self) -> None:
        while not self._worker.results.empty():
            self._result(self._worker.results.get_nowait())

    def _heard_nothing(self, utt) -> None:
        """The utterance ended without words: an empty final transcript closes its turn (nothing
        will be answered), so the face stops listening and idle detection knows."""
        self.publish(Transcript(turn=utt.turn, text="", final=True, start_s=utt.onset / SAMPLE_RATE,
                                end_s=utt.end / SAMPLE_RATE))

    def _result(self, done: Done) -> None:
        job = done.job
        _LOGGER.debug("%s decode of utterance %d took %.0f ms", job.kind.name, job.utterance, done.seconds * 1000)
        utt = self._finishing.get(job.utterance) or (
            self._current if self._current is not None and self._current.id == job.utterance else None)
        if utt is None:
            return
        if done.result is None:
            _LOGGER.error("turn %d: ASR failed: %s", utt.turn, done.error)
            if job.kind == JobKind.FINAL:
                self._finishing.pop(utt.id, None)
                self._heard_nothing(utt)
            elif job.kind != JobKind.PARTIAL:
                self._finishing.pop(utt.id, None)
            return
        if job.kind == JobKind.PARTIAL:
            if not utt.endpoint_at and done.result.text:
                self.publish(Transcript(turn=utt.turn, text=done.result.text, final=False,
                                        language=done.result.language, start_s=utt.onset / SAMPLE_RATE,
                                        end_s=job.end / SAMPLE_RATE))
        elif job.kind == JobKind.SPECULATIVE:
            if job.end == utt.speculative_end:
                utt.speculative = done.result
                if utt.endpoint_at:
                    self._final(utt, done.result)
        else:
            self._final(utt, done.result)

    def _final(self, utt: _Utterance, result: AsrResult) -> None:
        self._finishing.pop(utt.id, None)
        latency_ms = (time.monotonic() - utt.endpoint_at) * 1000
        if not result.text:
            _LOGGER.info("turn %d: no words in %.2f s of speech", utt.turn, (utt.end - utt.onset) / SAMPLE_RATE)
            self._heard_nothing(utt)
            return
        self.publish(Transcript(turn=utt.turn, text=result.text, final=True, language=result.language,
                                start_s=utt.onset / SAMPLE_RATE, end_s=utt.end / SAMPLE_RATE,
                                latency_ms=latency_ms))
        # The visitor's words never go into INFO logs (the journal keeps them): only their count.
        _LOGGER.info("turn %d: heard %d words (%s, %.0f ms after the endpoint)", utt.turn, len(result.text.split()),
                     result.language, latency_ms)
        _LOGGER.debug("turn %d: heard %r", utt.turn, result.text)

    def _append(self, audio: np.ndarray) -> None:
        """Add audio to a preallocated buffer (no per-frame reallocation of seconds of audio)."""
        if self._filled + len(audio) > len(self._store):
            grown = np.zeros(max(2 * len(self._store), self._filled + len(audio)), np.float32)
            grown[: self._filled] = self._store[: self._filled]
            self._store = grown
        self._store[self._filled:self._filled + len(audio)] = audio
        self._filled += len(audio)

    @property
    def _buffer(self) -> np.ndarray:
        """The kept audio (a view, no copy)."""
        return self._store[: self._filled]

    def _trim(self) -> None:
        """Keep the audio an utterance may still need, and no more."""
        keep_from = self._buffer_start + self._filled - int((self.settings.max_utterance_s + 2.0) * SAMPLE_RATE)
        if self._current is not None:
            keep_from = min(keep_from, self._current.onset)
        drop = keep_from - self._buffer_start
        if drop > 4 * SAMPLE_RATE:  # shift rarely: once per few seconds of audio
            self._store[: self._filled - drop] = self._store[drop:self._filled]
            self._filled -= drop
            self._buffer_start += drop
