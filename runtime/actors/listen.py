"""listen actor: VAD + ASR. Audio frames in; SpeechStarted (barge-in), partials, speculative and
final transcripts out.

Two Silero detectors watch the same audio:
- `speech` finds phrases: onset after min_speech_s, a phrase ends after pause_s of silence;
- `barge` is stricter (higher threshold) and quicker: it reads Silero's score of each window
  itself (SileroOnset), so the visitor talking over the avatar is heard one window after the
  onset, not the 100-160 ms later sherpa-onnx's detector says so. It is used while the avatar
  speaks (the self-echo policy).

The actor does the I/O: it keeps the recent audio, runs the detectors, the decode thread and the
turn model's thread. What the detectors and the decodes mean for the visitor's turns (endpointing,
speculation, resuming after a breath, the self-echo policy) is decided by the segmenter
(runtime.speech.segmenter), which holds no audio and is tested with synthetic detector flags.
"""

from __future__ import annotations

import logging

import numpy as np

from runtime.actors.decoder import DecodeWorker, Done, Job
from runtime.core.actor import Actor
from runtime.core.errors import ListenFault
from runtime.core.messages import AudioFrame, InputEnded, PlaybackFinished, PlaybackStarted
from runtime.engines.vad_silero import WINDOW
from runtime.speech.audio import SAMPLE_RATE, dbfs, to_float
from runtime.speech.endpointing import Answer, TurnJudge
from runtime.speech.heard import HeardAudio
from runtime.speech.segmenter import Segmenter
from runtime.speech.utterance import Heard, JobKind, Utterance

_LOGGER = logging.getLogger(__name__)


class ListenActor(Actor):
    """Voice activity detection, endpointing, the barge-in signal, transcription and speculation."""

    abandon_on_stop = True
    subscriptions = (AudioFrame, PlaybackStarted, PlaybackFinished, InputEnded)
    drop_stale = False  # audio and playback state are not tied to a turn

    def __init__(self, name: str, bus, *, asr_factory, vad_factory, settings, turn_factory=None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.settings = settings
        self._asr_factory, self._vad_factory, self._turn_factory = asr_factory, vad_factory, turn_factory
        self._heard = HeardAudio()
        self._recent = int(settings.barge_in_min_speech_s * SAMPLE_RATE)
        self._vad_base: int | None = None  # input-timeline sample of the detectors' sample 0
        self._worker: DecodeWorker | None = None
        self._judge: TurnJudge | None = None
        self._segmenter: Segmenter | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def setup(self) -> None:
        """Load the detectors and the ASR engine; start the decode thread."""
        s = self.settings
        self.speech = self._vad_factory(threshold=s.threshold, min_silence_s=s.pause_s,
                                        min_speech_s=s.min_speech_s, max_speech_s=s.max_utterance_s)
        # One Silero window over the threshold: the segmenter's level test asks for the rest.
        self.barge = self._vad_factory(quick=True, threshold=s.barge_in_threshold, min_silence_s=s.min_silence_s,
                                       min_speech_s=WINDOW / SAMPLE_RATE, max_speech_s=s.max_utterance_s)
        decoded, judged = self.inbox(self._result), self.inbox(self._judged)
        engine = self._asr_factory()
        try:
            engine.transcribe(np.zeros(SAMPLE_RATE, np.float32), "en")  # first decode pays one-off set-up costs
        except ListenFault as fault:
            if not fault.code.startswith("asr-server-"):
                raise
            self.degrade(fault)  # a speech server that is down now may be up for the first visitor
        self._worker = DecodeWorker(engine, s.language, decoded.put)
        self._judge = TurnJudge(s, self._turn_factory() if self._turn_factory else None, judged.put)
        self._segmenter = Segmenter(s, self._judge, publish=self.publish, open_turn=self.open_turn,
                                    decode=self._submit, audio=self._heard.between)

    def teardown(self) -> None:
        """Stop the decode and turn model threads (work in progress is not waited for)."""
        for worker in (self._worker, self._judge):
            if worker is not None:
                worker.close(timeout_s=0.2)

    # --- input ------------------------------------------------------------------------------

    def handle(self, msg) -> None:
        """Route audio, playback state and end of input."""
        if isinstance(msg, AudioFrame):
            self._audio(msg)
        elif isinstance(msg, PlaybackStarted):
            self._segmenter.playback_started()
        elif isinstance(msg, PlaybackFinished):
            self._segmenter.playback_finished()
        elif isinstance(msg, InputEnded):
            self._segmenter.ended(self._phrases(self.speech.flush()))

    def _audio(self, frame: AudioFrame) -> None:
        audio = to_float(frame.pcm)
        if self._vad_base is None:
            self._vad_base = frame.offset_samples
            self._heard.begin_at(frame.offset_samples)
        self._heard.append(audio)
        for vad in (self.speech, self.barge):
            vad.accept(audio)
        self.barge.segments()  # only its state is used: finished segments are let go
        self._segmenter.frame(Heard(self._heard.start, self._heard.end, self.speech.speaking, self.barge.speaking,
                                    dbfs(audio), dbfs(self._heard.last(self._recent)),
                                    self._phrases(self.speech.segments()),
                                    self.barge.probability >= self.settings.threshold))
        self._trim()

    def _phrases(self, segments) -> tuple[tuple[int, int], ...]:
        """The detector's finished segments on the input timeline."""
        return tuple((self._vad_base + seg.start, self._vad_base + seg.end) for seg in segments)

    def _submit(self, kind: JobKind, utt: Utterance, end: int) -> bool:
        """Queue a decode of the utterance's audio up to `end` (False: the decoder is too busy)."""
        audio = self._heard.between(utt.onset, end)
        queued = self._worker.submit(Job(kind, utt.id, audio, end))
        _LOGGER.debug("turn %d: %s decode of %.2f s %s", utt.turn, kind.name, len(audio) / SAMPLE_RATE,
                      "queued" if queued else "skipped (busy)")
        return queued

    def _trim(self) -> None:
        """Keep the audio an utterance may still need, and no more."""
        keep_from = self._heard.end - int((self.settings.max_utterance_s + 2.0) * SAMPLE_RATE)
        if self._segmenter.current is not None:
            keep_from = min(keep_from, self._segmenter.current.onset)
        self._heard.keep_from(keep_from)

    # --- results ----------------------------------------------------------------------------

    def _judged(self, answer: Answer) -> None:
        self._segmenter.judged(answer)

    def _result(self, done: Done) -> None:
        job = done.job
        _LOGGER.debug("%s decode of utterance %d took %.0f ms", job.kind.name, job.utterance, done.seconds * 1000)
        if not self._segmenter.expects(job.utterance):
            return
        if done.fault is not None:
            self.degrade(done.fault)  # e.g. the speech server is down: health shows it until it answers
        elif done.result is not None:
            self.recover()
        self._segmenter.decoded(job.kind, job.utterance, job.end, done.result, done.error, done.seconds)
