"""listen actor: VAD + ASR. Audio frames in; SpeechStarted (barge-in), partials, speculative and
final transcripts out.

Two Silero detectors watch the same audio:
- `speech` finds phrases: onset after min_speech_s, a phrase ends after pause_s of silence;
- `barge` is stricter (higher threshold) and quicker: it reads Silero's score of each window
  itself (SileroOnset), so the visitor talking over the avatar is heard one window after the
  onset, not the 100-160 ms later sherpa-onnx's detector says so. It is used while the avatar
  speaks (self-echo policy below).

Endpointing. When a phrase ends, the utterance so far is decoded at once and the turn model is
asked whether the visitor has finished; the silence that ends the utterance depends on both
(runtime.speech.endpointing). A visitor who speaks again before that goes on with the same utterance.

Speculation. The decode at a pause is published as a speculative transcript on the utterance's
turn: the answer is prepared ahead and held; the final of the same turn commits it. When the
visitor goes on, or the final's words differ, an Interrupt (reason `speculation`) cancels it and
moves the utterance to a new turn, whose final is answered afresh.

Self-echo policy. While the avatar speaks (PlaybackStarted to PlaybackFinished, plus echo_tail_s
for room reverb), speech counts as the visitor only when the strict detector hears it AND its level
over the last barge_in_min_speech_s is at least barge_in_min_dbfs (and, with
barge_in_echo_margin_db, that much over the loudest sound of the 2 s before: the echo's own level).
The avatar's voice from the speaker is quieter than a visitor talking to the kiosk, so it is
ignored; a visitor talking over it is heard after about barge_in_min_speech_s. Utterances not
accepted this way are dropped, never transcribed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from runtime.actors.decoder import DecodeWorker, Done, Job, JobKind
from runtime.core.actor import Actor
from runtime.core.errors import ListenFault
from runtime.core.limits import clean_text
from runtime.core.messages import (
    AudioFrame,
    InputEnded,
    Interrupt,
    InterruptReason,
    PlaybackFinished,
    PlaybackStarted,
    SpeechPaused,
    SpeechStarted,
    Transcript,
)
from runtime.engines.asr import AsrResult
from runtime.engines.vad_silero import WINDOW
from runtime.speech.audio import SAMPLE_RATE, dbfs, to_float
from runtime.speech.echo import EchoGate
from runtime.speech.endpoint import Verdict, same_words, text_verdict
from runtime.speech.endpointing import Answer, TurnJudge
from runtime.speech.heard import HeardAudio

_LOGGER = logging.getLogger(__name__)

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
    heard_at: int = 0
    """Input-timeline sample where a detector first heard speech."""
    accepted: bool = False
    turn: int = 0
    phrase_end: int = -1
    """Input-timeline sample where the latest phrase ended (-1 while the visitor speaks)."""
    end: int = 0
    """Input-timeline sample one past the final's audio (set at the endpoint)."""
    endpoint_at: float = 0.0
    """Monotonic time the endpoint was detected (0 while still speaking)."""
    silence_s: float = 0.0
    """The silence that ended the utterance (seconds)."""
    next_partial_at: float = 0.0
    speculative_end: int = -1
    """Input-timeline sample one past the audio of the latest decode at a pause (-1: none)."""
    speculative: AsrResult | None = None
    speculated: str = ""
    """The words an answer is being prepared for ahead of the endpoint ("" for none)."""


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
        self._playing = False
        self._echo_until = 0.0
        self._echo = EchoGate(window_s=settings.barge_in_min_speech_s)
        """How loud the avatar's own voice comes back (the bar a visitor talking over it must pass)."""
        self._current: _Utterance | None = None
        self._finishing: dict[int, _Utterance] = {}
        self._last: _Utterance | None = None
        """The utterance that ended last, which the visitor may still go on with (see _resume)."""
        self._ids = 0
        self._vad_base: int | None = None  # input-timeline sample of the detectors' sample 0
        self._worker: DecodeWorker | None = None
        self._judge: TurnJudge | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def setup(self) -> None:
        """Load the detectors and the ASR engine; start the decode thread."""
        s = self.settings
        self.speech = self._vad_factory(threshold=s.threshold, min_silence_s=s.pause_s,
                                        min_speech_s=s.min_speech_s, max_speech_s=s.max_utterance_s)
        # One Silero window over the threshold: the level test (_consider) asks for the rest.
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
            self._playing = True
        elif isinstance(msg, PlaybackFinished):
            self._playing = False
            self._echo_until = time.monotonic() + self.settings.echo_tail_s
        elif isinstance(msg, InputEnded):
            for segment in self.speech.flush():
                self._phrase_ended(segment)
            utt = self._current
            if utt is not None and utt.accepted and utt.phrase_end >= 0:
                self._endpoint(utt, self._heard.end)

    def _audio(self, frame: AudioFrame) -> None:
        audio = to_float(frame.pcm)
        if self._vad_base is None:
            self._vad_base = frame.offset_samples
            self._heard.begin_at(frame.offset_samples)
        self._heard.append(audio)
        self._note_level(audio)
        for vad in (self.speech, self.barge):
            vad.accept(audio)
        self.barge.segments()  # only its state is used: finished segments are let go
        now_sample = self._heard.end
        # While the avatar talks, the quicker strict detector may open the utterance: a barge-in
        # should not wait for the normal minimum speech time.
        if self._current is None and (self.speech.speaking or (self._echo_policy_on() and self.barge.speaking)):
            self._onset(now_sample)
        utt = self._current
        if utt is not None and not utt.accepted:
            self._consider(utt)
            if not utt.accepted and not self.speech.speaking and not self.barge.speaking:
                self._current = None  # the avatar's own voice, or a noise: never transcribed
                _LOGGER.debug("dropped a %.2f s utterance (echo policy)", (now_sample - utt.onset) / SAMPLE_RATE)
        for segment in self.speech.segments():
            self._phrase_ended(segment)
        utt = self._current
        if utt is not None and utt.accepted:
            if utt.phrase_end < 0 and not self.speech.speaking and not self.barge.speaking:
                self._pause_at(utt, now_sample)  # a word too short for a phrase (a barge-in "stop!")
            if utt.phrase_end >= 0 and self.speech.speaking:
                self._went_on(utt)
            if utt.phrase_end < 0:
                self._maybe_partial(utt, now_sample)
            if (now_sample - utt.onset) / SAMPLE_RATE >= self.settings.max_utterance_s:
                if utt.phrase_end < 0:  # cut a monologue into utterances
                    utt.phrase_end = now_sample
                self._endpoint(utt, now_sample)
            else:
                self._maybe_endpoint(utt, now_sample)
        self._trim()

    # --- utterances -------------------------------------------------------------------------

    def _onset(self, now_sample: int) -> None:
        s = self.settings
        self._ids += 1
        lookback = int((s.min_speech_s + _PREROLL_S) * SAMPLE_RATE)
        playing = self._echo_policy_on()
        self._current = _Utterance(self._ids, max(self._heard.start, now_sample - lookback), playing,
                                   heard_at=now_sample)

    def _echo_policy_on(self) -> bool:
        return self._playing or time.monotonic() < self._echo_until

    def _note_level(self, audio: np.ndarray) -> None:
        """Keep the level of each frame heard while the avatar speaks (its echo, unless the visitor talks)."""
        if self._echo_policy_on():
            self._echo.note(dbfs(audio))
        else:
            self._echo.clear()

    def _echo_peak(self) -> float:
        """The level a visitor talking over the avatar must reach (dBFS)."""
        if not self.settings.barge_in_echo_margin_db:
            return -float("inf")
        return self._echo.echo_db() + self.settings.barge_in_echo_margin_db

    def _consider(self, utt: _Utterance) -> None:
        """Accept an utterance at once, or during playback only when it passes the echo policy."""
        s = self.settings
        if utt.during_playback:
            recent = self._heard.last(int(s.barge_in_min_speech_s * SAMPLE_RATE))
            if not self.barge.speaking or dbfs(recent) < max(s.barge_in_min_dbfs, self._echo_peak()):
                return
        if utt.during_playback:  # the speech before (the avatar's own voice) is not the visitor's
            lookback = int((s.barge_in_min_speech_s + _PREROLL_S) * SAMPLE_RATE)
            utt.onset = max(utt.onset, self._heard.end - lookback)
        utt.accepted = True
        self._echo.release()
        utt.turn = self.open_turn()
        utt.next_partial_at = time.monotonic() + s.partial_interval_s
        reason = InterruptReason.BARGE_IN if utt.during_playback else InterruptReason.SPEECH
        resumes = self._resume(utt)
        if resumes >= 0:
            reason = InterruptReason.SPECULATION  # the answer to its first part is void everywhere
        self.publish(Interrupt(turn=utt.turn, reason=reason, resumes=resumes))
        self.publish(SpeechStarted(turn=utt.turn, start_s=utt.onset / SAMPLE_RATE,
                                   during_playback=utt.during_playback))
        _LOGGER.info("turn %d: speech started at %.2f s (%s)", utt.turn, utt.onset / SAMPLE_RATE, reason)

    def _resume(self, utt: _Utterance) -> int:
        """A visitor who speaks again soon after an utterance ended (a breath mid-sentence) goes on
        with it: the new utterance takes in the old one's audio, so the whole is decoded and answered
        once, and the old one's final (if still coming) is dropped. The old turn, or -1."""
        last, self._last = self._last, None
        if last is None or not self.settings.resume_s:
            return -1
        # Where speech began: the detector hears it min_speech_s late, and up to _PREROLL_S more.
        started = utt.heard_at - int((self.settings.min_speech_s + _PREROLL_S) * SAMPLE_RATE)
        if (started - last.phrase_end > self.settings.resume_s * SAMPLE_RATE or last.onset < self._heard.start
                or self._heard.end - last.onset >= self.settings.max_utterance_s * SAMPLE_RATE):
            return -1  # a real pause, or a monologue cut at max_utterance_s
        self._finishing.pop(last.id, None)
        utt.onset = last.onset
        _LOGGER.info("turn %d: the visitor went on after a breath: turn %d is void, heard as one utterance",
                     utt.turn, last.turn)
        return last.turn

    def _phrase_ended(self, segment) -> None:
        """The visitor paused: decode what was said so far; the endpoint waits for its verdict."""
        utt = self._current
        if utt is None or not utt.accepted:
            return
        if utt.phrase_end < 0 and utt.speculative_end < 0:  # the first phrase places the onset better
            utt.onset = max(self._heard.start, min(utt.onset, self._vad_base + segment.start))
        self._pause_at(utt, self._vad_base + segment.end)

    def _pause_at(self, utt: _Utterance, speech_end: int) -> None:
        """Speech stopped at this input-timeline sample: decode the utterance so far."""
        utt.phrase_end = speech_end
        end = self._heard.end
        if self._submit(JobKind.SPECULATIVE, utt, end):
            utt.speculative_end, utt.speculative = end, None
        self.publish(SpeechPaused(turn=utt.turn, heard_s=end / SAMPLE_RATE))
        self._judge.pause(utt.id, self._audio_of(utt, end), f"turn {utt.turn}", (end - speech_end) / SAMPLE_RATE)

    def _went_on(self, utt: _Utterance) -> None:
        """The visitor speaks again after a pause: the same utterance goes on; an answer prepared
        for its first words is cancelled."""
        utt.phrase_end, utt.speculative_end, utt.speculative = -1, -1, None
        self._judge.went_on(utt.id)
        if utt.speculated:
            self._discard(utt, "the visitor went on")

    def _discard(self, utt: _Utterance, why: str) -> None:
        """Cancel a speculative answer everywhere by moving the utterance to a new turn."""
        old = utt.turn
        utt.turn, utt.speculated = self.open_turn(), ""
        self.publish(Interrupt(turn=utt.turn, reason=InterruptReason.SPECULATION))
        _LOGGER.info("turn %d: speculative answer discarded (%s); the utterance goes on as turn %d", old, why,
                     utt.turn)

    def _maybe_endpoint(self, utt: _Utterance, now_sample: int) -> None:
        if utt.phrase_end < 0:
            return
        if utt.speculative is not None:
            words = text_verdict(utt.speculative.text)
        else:  # None: the decode of this pause is on its way
            words = None if utt.speculative_end >= utt.phrase_end else Verdict.OPEN
        silence_s = (now_sample - utt.phrase_end) / SAMPLE_RATE
        if silence_s >= self._judge.silence_needed(utt.id, words, silence_s, lambda: self._audio_of(utt, now_sample)):
            self._endpoint(utt, now_sample)

    def _maybe_partial(self, utt: _Utterance, now_sample: int) -> None:
        now = time.monotonic()
        if now >= utt.next_partial_at and self._submit(JobKind.PARTIAL, utt, now_sample):
            utt.next_partial_at = now + self.settings.partial_interval_s

    def _endpoint(self, utt: _Utterance, now_sample: int) -> None:
        """The utterance is over: its final is the decode at the last pause when that covers it."""
        if self._current is utt:
            self._current = None
        utt.end = min(utt.phrase_end + _TRAILING, self._heard.end)
        utt.silence_s = max(0.0, (now_sample - utt.phrase_end) / SAMPLE_RATE)
        utt.endpoint_at = time.monotonic()
        self._judge.went_on(utt.id)
        self._finishing[utt.id] = utt
        self._last = utt
        if utt.speculative_end >= utt.phrase_end:
            if utt.speculative is not None:
                self._final(utt, utt.speculative)
        else:
            utt.speculative_end = -1
            self._submit(JobKind.FINAL, utt, utt.end)

    def _audio_of(self, utt: _Utterance, end: int) -> np.ndarray:
        """A copy of the utterance's audio up to an input-timeline sample."""
        return self._heard.between(utt.onset, end)

    def _submit(self, kind: JobKind, utt: _Utterance, end: int) -> bool:
        audio = self._audio_of(utt, end)
        queued = self._worker.submit(Job(kind, utt.id, audio, end))
        _LOGGER.debug("turn %d: %s decode of %.2f s %s", utt.turn, kind.name, len(audio) / SAMPLE_RATE,
                      "queued" if queued else "skipped (busy)")
        return queued

    # --- results ----------------------------------------------------------------------------

    def _judged(self, answer: Answer) -> None:
        utt = self._current
        if self._judge.take(answer) and utt is not None and utt.accepted:  # the model's verdict came
            self._maybe_endpoint(utt, self._heard.end)

    def _heard_nothing(self, utt) -> None:
        """The utterance ended without words: an empty final transcript closes its turn (nothing
        will be answered), so the face stops listening and idle detection knows."""
        if utt.speculated:
            self._discard(utt, "no words in the final")
        self.publish(Transcript(turn=utt.turn, text="", final=True, start_s=utt.onset / SAMPLE_RATE,
                                end_s=utt.end / SAMPLE_RATE, silence_ms=utt.silence_s * 1000))

    def _result(self, done: Done) -> None:
        job = done.job
        _LOGGER.debug("%s decode of utterance %d took %.0f ms", job.kind.name, job.utterance, done.seconds * 1000)
        utt = self._finishing.get(job.utterance) or (
            self._current if self._current is not None and self._current.id == job.utterance else None)
        if utt is None:
            return
        if done.fault is not None:
            self.degrade(done.fault)  # e.g. the speech server is down: health shows it until it answers
        elif done.result is not None:
            self.recover()
        if done.result is None:
            _LOGGER.error("turn %d: ASR failed: %s", utt.turn, done.error)
            if job.kind == JobKind.FINAL or (job.kind == JobKind.SPECULATIVE and utt.endpoint_at
                                             and job.end == utt.speculative_end):
                self._finishing.pop(utt.id, None)
                self._heard_nothing(utt)
            return
        if job.kind == JobKind.PARTIAL:
            # (also when it comes in a pause, as on a busy machine: until the endpoint, unless the
            # pause's own decode, which covers more, came first)
            newer = utt.speculative is None or job.end > utt.speculative_end
            if not utt.endpoint_at and done.result.text and newer:
                self.publish(Transcript(turn=utt.turn, text=clean_text(done.result.text), final=False,
                                        language=done.result.language, start_s=utt.onset / SAMPLE_RATE,
                                        end_s=job.end / SAMPLE_RATE))
        elif job.kind == JobKind.SPECULATIVE:
            if job.end != utt.speculative_end:
                return  # the visitor went on: a newer pause will be decoded
            utt.speculative = done.result
            if utt.endpoint_at:
                self._final(utt, done.result)
                return
            self._maybe_endpoint(utt, self._heard.end)
            if not utt.endpoint_at:
                self._speculate(utt, done.result)
        else:
            self._final(utt, done.result)

    def _speculate(self, utt: _Utterance, result: AsrResult) -> None:
        """Publish the words so far so the answer is prepared ahead of the endpoint."""
        if not self.settings.speculate or not result.text or utt.speculated:
            return
        utt.speculated = result.text
        self.publish(Transcript(turn=utt.turn, text=clean_text(result.text), final=False, speculative=True,
                                language=result.language, start_s=utt.onset / SAMPLE_RATE,
                                end_s=utt.phrase_end / SAMPLE_RATE))
        _LOGGER.debug("turn %d: answering ahead at a %.2f s pause", utt.turn,
                      (self._heard.end - utt.phrase_end) / SAMPLE_RATE)

    def _final(self, utt: _Utterance, result: AsrResult) -> None:
        self._finishing.pop(utt.id, None)
        latency_ms = (time.monotonic() - utt.endpoint_at) * 1000
        if not result.text:
            _LOGGER.info("turn %d: no words in %.2f s of speech", utt.turn, (utt.end - utt.onset) / SAMPLE_RATE)
            self._heard_nothing(utt)
            return
        hit = bool(utt.speculated) and same_words(utt.speculated, result.text)
        if utt.speculated and not hit:
            self._discard(utt, "the final's words differ")
        self.publish(Transcript(turn=utt.turn, text=clean_text(result.text), final=True, language=result.language,
                                start_s=utt.onset / SAMPLE_RATE, end_s=utt.end / SAMPLE_RATE,
                                latency_ms=latency_ms, silence_ms=utt.silence_s * 1000))
        # The visitor's words never go into INFO logs (the journal keeps them): only their count.
        _LOGGER.info("turn %d: heard %d words (%s, %.0f ms silence, %.0f ms after the endpoint%s)", utt.turn,
                     len(result.text.split()), result.language, utt.silence_s * 1000, latency_ms,
                     ", answered ahead" if hit else "")
        _LOGGER.debug("turn %d: heard %r", utt.turn, result.text)

    def _trim(self) -> None:
        """Keep the audio an utterance may still need, and no more."""
        keep_from = self._heard.end - int((self.settings.max_utterance_s + 2.0) * SAMPLE_RATE)
        if self._current is not None:
            keep_from = min(keep_from, self._current.onset)
        self._heard.keep_from(keep_from)
