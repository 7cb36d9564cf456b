"""The turn segmenter: what the voice detectors heard, frame by frame, and the words decoded in;
the turn's events out (Interrupt, SpeechStarted, SpeechPaused, Transcript). It holds no audio, runs
no thread and knows no bus: the listen actor (runtime.actors.listen) feeds it, carries out the
decodes it asks for and publishes what it says, and tests drive it with synthetic detector flags.

Endpointing. When a phrase ends, the utterance so far is decoded at once and the turn judge
(runtime.speech.endpointing) is asked whether the visitor has finished; the silence that ends the
utterance depends on both. A visitor who speaks again before that goes on with the same utterance.

Speculation. The decode at a pause is published as a speculative transcript on the utterance's
turn: the answer is prepared ahead and held; the final of the same turn commits it. When the
visitor goes on, or the final's words differ, an Interrupt (reason `speculation`) cancels it and
moves the utterance to a new turn, whose final is answered afresh.

Resuming. A visitor who speaks again within `resume_s` of an utterance's end (a breath in the
middle of a sentence) goes on with it: the new utterance takes in the old one's audio and its
Interrupt names the old turn (`resumes`), which is void everywhere; the whole is answered once.

Self-echo policy. While the avatar speaks (playback started to finished, plus echo_tail_s for room
reverb), speech counts as the visitor only when the strict detector hears it AND its level over the
last barge_in_min_speech_s is at least barge_in_min_dbfs (and, with barge_in_echo_margin_db, that
much over the loudest sound of the 2 s before: the echo's own level, runtime.speech.echo). The
avatar's voice from the speaker is quieter than a visitor talking to the kiosk, so it is ignored; a
visitor talking over it is heard after about barge_in_min_speech_s. Utterances not accepted this
way are dropped, never transcribed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from runtime.core.limits import clean_text
from runtime.core.messages import Interrupt, InterruptReason, SpeechPaused, SpeechStarted, Transcript
from runtime.engines.asr import AsrResult
from runtime.speech.audio import SAMPLE_RATE
from runtime.speech.echo import EchoGate
from runtime.speech.endpoint import Verdict, same_words, text_verdict
from runtime.speech.endpointing import Answer, TurnJudge
from runtime.speech.utterance import Heard, JobKind, Utterance

_LOGGER = logging.getLogger(__name__)

TRAILING = int(0.2 * SAMPLE_RATE)
"""Silence kept after the end of speech in a final's audio (samples)."""
PREROLL_S = 0.3
"""Audio kept before the detected onset, which the detector reports late (seconds)."""


class Segmenter:
    """Utterances and their turns, from detector flags, levels and decoded words.

    The caller provides: `publish(msg)` for the turn's events, `open_turn()` for a new turn number,
    `decode(kind, utterance, end) -> bool` to queue a decode of the utterance's audio up to `end`
    (False when the decoder is too busy to take it), and `audio(start, end)` for the turn judge.
    """

    def __init__(self, settings, judge: TurnJudge, *, publish: Callable[[object], object],
                 open_turn: Callable[[], int], decode: Callable[[JobKind, Utterance, int], bool],
                 audio: Callable[[int, int], np.ndarray], clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._judge = judge
        self._publish, self._open_turn, self._decode, self._audio = publish, open_turn, decode, audio
        self._clock = clock
        self._playing = False
        self._echo_until = 0.0
        self._echo = EchoGate(window_s=settings.barge_in_min_speech_s)
        """How loud the avatar's own voice comes back (the bar a visitor talking over it must pass)."""
        self.current: Utterance | None = None
        self._finishing: dict[int, Utterance] = {}
        self._last: Utterance | None = None
        """The utterance that ended last, which the visitor may still go on with (see _resume)."""
        self._ids = 0
        self._voiced = False
        """The latest frame's last Silero window scored as speech (see _maybe_endpoint)."""
        self._start = self._end = 0
        """The audio kept, as of the latest frame (input-timeline samples)."""

    # --- the avatar's voice -----------------------------------------------------------------

    def playback_started(self) -> None:
        """The avatar's voice is heard: the self-echo policy holds."""
        self._playing = True

    def playback_finished(self) -> None:
        """The avatar went quiet: the policy holds echo_tail_s longer (the room's reverb)."""
        self._playing = False
        self._echo_until = self._clock() + self.settings.echo_tail_s

    def _echo_policy_on(self) -> bool:
        return self._playing or self._clock() < self._echo_until

    # --- what was heard ---------------------------------------------------------------------

    def frame(self, heard: Heard) -> None:
        """One frame of audio was heard: open, accept, pause, resume or end utterances."""
        self._start, self._end, self._voiced = heard.start, heard.end, heard.voiced
        if self._echo_policy_on():  # the level of each frame heard while the avatar speaks: its echo
            self._echo.note(heard.level_db)
        else:
            self._echo.clear()
        now_sample = heard.end
        # While the avatar talks, the quicker strict detector may open the utterance: a barge-in
        # should not wait for the normal minimum speech time.
        if self.current is None and (heard.speaking or (self._echo_policy_on() and heard.barge)):
            self._onset(now_sample)
        utt = self.current
        if utt is not None and not utt.accepted:
            self._consider(utt, heard)
            if not utt.accepted and not heard.speaking and not heard.barge:
                self.current = None  # the avatar's own voice, or a noise: never transcribed
                _LOGGER.debug("dropped a %.2f s utterance (echo policy)", (now_sample - utt.onset) / SAMPLE_RATE)
        for start, end in heard.phrases:
            self._phrase_ended(start, end)
        utt = self.current
        if utt is None or not utt.accepted:
            return
        if utt.phrase_end < 0 and not heard.speaking and not heard.barge:
            self._pause_at(utt, now_sample)  # a word too short for a phrase (a barge-in "stop!")
        if utt.phrase_end >= 0 and heard.speaking:
            self._went_on(utt)
        if utt.phrase_end < 0 and heard.voiced:  # (not while the visitor may be stopping)
            self._maybe_partial(utt, now_sample)
        if (now_sample - utt.onset) / SAMPLE_RATE >= self.settings.max_utterance_s:
            if utt.phrase_end < 0:  # cut a monologue into utterances
                utt.phrase_end = now_sample
            self._endpoint(utt, now_sample)
        else:
            self._maybe_endpoint(utt, now_sample)

    def ended(self, phrases: tuple[tuple[int, int], ...] = ()) -> None:
        """The input ended: the phrases the detector closed are the last; an utterance paused ends."""
        for start, end in phrases:
            self._phrase_ended(start, end)
        utt = self.current
        if utt is not None and utt.accepted and utt.phrase_end >= 0:
            self._endpoint(utt, self._end)

    def judged(self, answer: Answer) -> None:
        """The turn model's verdict came."""
        utt = self.current
        if self._judge.take(answer) and utt is not None and utt.accepted:
            self._maybe_endpoint(utt, self._end)

    # --- utterances -------------------------------------------------------------------------

    def _onset(self, now_sample: int) -> None:
        s = self.settings
        self._ids += 1
        lookback = int((s.min_speech_s + PREROLL_S) * SAMPLE_RATE)
        self.current = Utterance(self._ids, max(self._start, now_sample - lookback), self._echo_policy_on(),
                                 heard_at=now_sample)

    def _echo_peak(self) -> float:
        """The level a visitor talking over the avatar must reach (dBFS)."""
        if not self.settings.barge_in_echo_margin_db:
            return -float("inf")
        return self._echo.echo_db() + self.settings.barge_in_echo_margin_db

    def _consider(self, utt: Utterance, heard: Heard) -> None:
        """Accept an utterance at once, or during playback only when it passes the echo policy."""
        s = self.settings
        if utt.during_playback:
            if not heard.barge or heard.recent_db < max(s.barge_in_min_dbfs, self._echo_peak()):
                return
            # the speech before (the avatar's own voice) is not the visitor's
            lookback = int((s.barge_in_min_speech_s + PREROLL_S) * SAMPLE_RATE)
            utt.onset = max(utt.onset, heard.end - lookback)
        utt.accepted = True
        self._echo.release()
        utt.turn = self._open_turn()
        utt.next_partial_at = self._clock() + s.partial_interval_s
        reason = InterruptReason.BARGE_IN if utt.during_playback else InterruptReason.SPEECH
        resumes = self._resume(utt)
        if resumes >= 0:
            reason = InterruptReason.SPECULATION  # the answer to its first part is void everywhere
        self._publish(Interrupt(turn=utt.turn, reason=reason, resumes=resumes))
        self._publish(SpeechStarted(turn=utt.turn, start_s=utt.onset / SAMPLE_RATE,
                                    during_playback=utt.during_playback))
        _LOGGER.info("turn %d: speech started at %.2f s (%s)", utt.turn, utt.onset / SAMPLE_RATE, reason)

    def _resume(self, utt: Utterance) -> int:
        """A visitor who speaks again soon after an utterance ended (a breath mid-sentence) goes on
        with it: the new utterance takes in the old one's audio, so the whole is decoded and answered
        once, and the old one's final (if still coming) is dropped. The old turn, or -1."""
        last, self._last = self._last, None
        if last is None or not self.settings.resume_s:
            return -1
        # Where speech began: the detector hears it min_speech_s late, and up to PREROLL_S more.
        started = utt.heard_at - int((self.settings.min_speech_s + PREROLL_S) * SAMPLE_RATE)
        if (started - last.phrase_end > self.settings.resume_s * SAMPLE_RATE or last.onset < self._start
                or self._end - last.onset >= self.settings.max_utterance_s * SAMPLE_RATE):
            return -1  # a real pause, or a monologue cut at max_utterance_s
        self._finishing.pop(last.id, None)
        utt.onset = last.onset
        _LOGGER.info("turn %d: the visitor went on after a breath: turn %d is void, heard as one utterance",
                     utt.turn, last.turn)
        return last.turn

    def _phrase_ended(self, start: int, end: int) -> None:
        """The visitor paused: decode what was said so far; the endpoint waits for its verdict."""
        utt = self.current
        if utt is None or not utt.accepted:
            return
        if utt.phrase_end < 0 and utt.speculative_end < 0:  # the first phrase places the onset better
            utt.onset = max(self._start, min(utt.onset, start))
        self._pause_at(utt, end)

    def _pause_at(self, utt: Utterance, speech_end: int) -> None:
        """Speech stopped at this input-timeline sample: decode the utterance so far."""
        utt.phrase_end = speech_end
        end = self._end
        if self._decode(JobKind.SPECULATIVE, utt, end):
            utt.speculative_end, utt.speculative = end, None
        self._publish(SpeechPaused(turn=utt.turn, heard_s=end / SAMPLE_RATE))
        self._judge.pause(utt.id, self._audio(utt.onset, end), f"turn {utt.turn}", (end - speech_end) / SAMPLE_RATE)

    def _went_on(self, utt: Utterance) -> None:
        """The visitor speaks again after a pause: the same utterance goes on; an answer prepared
        for its first words is cancelled."""
        utt.phrase_end, utt.speculative_end, utt.speculative = -1, -1, None
        self._judge.went_on(utt.id)
        if utt.speculated:
            self._discard(utt, "the visitor went on")

    def _discard(self, utt: Utterance, why: str) -> None:
        """Cancel a speculative answer everywhere by moving the utterance to a new turn."""
        old = utt.turn
        utt.turn, utt.speculated = self._open_turn(), ""
        self._publish(Interrupt(turn=utt.turn, reason=InterruptReason.SPECULATION))
        _LOGGER.info("turn %d: speculative answer discarded (%s); the utterance goes on as turn %d", old, why,
                     utt.turn)

    def _maybe_endpoint(self, utt: Utterance, now_sample: int) -> None:
        if utt.phrase_end < 0 or self._voiced:
            # A voiced frame in a pause may be the visitor going on: the phrase detector says so only
            # min_speech_s later. An endpoint now would start the answer (a kept greeting plays at
            # once) over the visitor's next words, to be cut off when the detector catches up.
            return
        if utt.speculative is not None:
            words = text_verdict(utt.speculative.text)
        else:  # None: the decode of this pause is on its way
            words = None if utt.speculative_end >= utt.phrase_end else Verdict.OPEN
        silence_s = (now_sample - utt.phrase_end) / SAMPLE_RATE
        if silence_s >= self._judge.silence_needed(utt.id, words, silence_s,
                                                   lambda: self._audio(utt.onset, now_sample)):
            self._endpoint(utt, now_sample)

    def _maybe_partial(self, utt: Utterance, now_sample: int) -> None:
        now = self._clock()
        if now >= utt.next_partial_at and self._decode(JobKind.PARTIAL, utt, now_sample):
            utt.next_partial_at = now + self.settings.partial_interval_s

    def _endpoint(self, utt: Utterance, now_sample: int) -> None:
        """The utterance is over: its final is the decode at the last pause when that covers it."""
        if self.current is utt:
            self.current = None
        utt.end = min(utt.phrase_end + TRAILING, self._end)
        utt.silence_s = max(0.0, (now_sample - utt.phrase_end) / SAMPLE_RATE)
        utt.endpoint_at = self._clock()
        self._judge.went_on(utt.id)
        self._finishing[utt.id] = utt
        self._last = utt
        if utt.speculative_end >= utt.phrase_end:
            if utt.speculative is not None:
                self._final(utt, utt.speculative)
        else:
            utt.speculative_end = -1
            self._decode(JobKind.FINAL, utt, utt.end)

    # --- decoded words ----------------------------------------------------------------------

    def _owner(self, utterance: int) -> Utterance | None:
        current = self.current
        return self._finishing.get(utterance) or (current if current is not None and current.id == utterance else None)

    def expects(self, utterance: int) -> bool:
        """Whether a decode of this utterance still matters (it has not been ended, dropped or merged)."""
        return self._owner(utterance) is not None

    def decoded(self, kind: JobKind, utterance: int, end: int, result: AsrResult | None, error: str = "",
                seconds: float = 0.0) -> None:
        """A decode this segmenter asked for came back (after `seconds` of decoding): its words, or
        None and the error."""
        utt = self._owner(utterance)
        if utt is None:
            return
        if kind == JobKind.PARTIAL:
            # The decoder rests at least as long as a partial took: on a slow machine partials
            # back to back keep it busy, and the pause's decode would wait behind one in flight.
            utt.next_partial_at = max(utt.next_partial_at, self._clock() + seconds)
        if result is None:
            _LOGGER.error("turn %d: ASR failed: %s", utt.turn, error)
            if kind == JobKind.FINAL or (kind == JobKind.SPECULATIVE and utt.endpoint_at
                                         and end == utt.speculative_end):
                self._finishing.pop(utt.id, None)
                self._heard_nothing(utt)
            return
        if kind == JobKind.PARTIAL:
            # (also when it comes in a pause, as on a busy machine: until the endpoint, unless the
            # pause's own decode, which covers more, came first)
            newer = utt.speculative is None or end > utt.speculative_end
            if not utt.endpoint_at and result.text and newer:
                self._publish(Transcript(turn=utt.turn, text=clean_text(result.text), final=False,
                                         language=result.language, start_s=utt.onset / SAMPLE_RATE,
                                         end_s=end / SAMPLE_RATE))
        elif kind == JobKind.SPECULATIVE:
            if end != utt.speculative_end:
                return  # the visitor went on: a newer pause will be decoded
            utt.speculative = result
            if utt.endpoint_at:
                self._final(utt, result)
                return
            self._maybe_endpoint(utt, self._end)
            if not utt.endpoint_at:
                self._speculate(utt, result)
        else:
            self._final(utt, result)

    def _heard_nothing(self, utt: Utterance) -> None:
        """The utterance ended without words: an empty final transcript closes its turn (nothing
        will be answered), so the face stops listening and idle detection knows."""
        if utt.speculated:
            self._discard(utt, "no words in the final")
        self._publish(Transcript(turn=utt.turn, text="", final=True, start_s=utt.onset / SAMPLE_RATE,
                                 end_s=utt.end / SAMPLE_RATE, silence_ms=utt.silence_s * 1000))

    def _speculate(self, utt: Utterance, result: AsrResult) -> None:
        """Publish the words so far so the answer is prepared ahead of the endpoint."""
        if not self.settings.speculate or not result.text or utt.speculated:
            return
        utt.speculated = result.text
        self._publish(Transcript(turn=utt.turn, text=clean_text(result.text), final=False, speculative=True,
                                 language=result.language, start_s=utt.onset / SAMPLE_RATE,
                                 end_s=utt.phrase_end / SAMPLE_RATE))
        _LOGGER.debug("turn %d: answering ahead at a %.2f s pause", utt.turn,
                      (self._end - utt.phrase_end) / SAMPLE_RATE)

    def _final(self, utt: Utterance, result: AsrResult) -> None:
        self._finishing.pop(utt.id, None)
        latency_ms = (self._clock() - utt.endpoint_at) * 1000
        if not result.text:
            _LOGGER.info("turn %d: no words in %.2f s of speech", utt.turn, (utt.end - utt.onset) / SAMPLE_RATE)
            self._heard_nothing(utt)
            return
        hit = bool(utt.speculated) and same_words(utt.speculated, result.text)
        if utt.speculated and not hit:
            self._discard(utt, "the final's words differ")
        self._publish(Transcript(turn=utt.turn, text=clean_text(result.text), final=True, language=result.language,
                                 start_s=utt.onset / SAMPLE_RATE, end_s=utt.end / SAMPLE_RATE,
                                 latency_ms=latency_ms, silence_ms=utt.silence_s * 1000))
        # The visitor's words never go into INFO logs (the journal keeps them): only their count.
        _LOGGER.info("turn %d: heard %d words (%s, %.0f ms silence, %.0f ms after the endpoint%s)", utt.turn,
                     len(result.text.split()), result.language, utt.silence_s * 1000, latency_ms,
                     ", answered ahead" if hit else "")
        _LOGGER.debug("turn %d: heard %r", utt.turn, result.text)
