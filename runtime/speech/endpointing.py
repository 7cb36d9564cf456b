"""When has the visitor finished? The silence that ends an utterance, from its words and from what
the turn model (runtime.speech.turn) hears in the audio.

At a pause (the listen actor's `pause_s` of silence) the model is asked on its own thread, never
on the voice detection loop; while the visitor stays quiet and the model said "unfinished", it is
asked once more just before `min_silence_s` (more silence makes a finished turn clearer to it).
The silence that ends the utterance:

- a question (the words say COMPLETE): `endpoint_complete_s`, whatever the model says (a
  question is never held longer than by the words alone);
- the model says finished (p >= `turn_threshold`): `endpoint_complete_s`, or
  `endpoint_incomplete_s` when the words ask for more ("and", "um", "那个", a trailing comma);
- the model says unfinished twice: `endpoint_unfinished_s` (by default no longer than the words
  would wait; 1.2 s is long enough that a breath in the middle of a sentence does not end the
  turn, but the model is right only about half the time); finished the second time: as the words
  say;
- no model (turn_model = false, or its file is not in the store), or no verdict yet: the words
  alone (runtime.speech.endpoint), as before; a verdict on its way holds the endpoint until it
  comes (at most `endpoint_unfinished_s`); words that ask for more hold it at least
  `endpoint_incomplete_s` meanwhile, whatever the verdict will be;
- the pause's words still being decoded: the endpoint waits for them (at most
  `endpoint_incomplete_s`), whatever the model says: the final transcript is that decode, so the
  wait costs no time, and a visitor who goes on meanwhile stays in the same utterance.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from runtime.speech.audio import SAMPLE_RATE
from runtime.speech.endpoint import Verdict
from runtime.speech.turn import TurnModel

_LOGGER = logging.getLogger(__name__)

RECHECK_LEAD_S = 0.1
"""The second question to the model is asked this long before min_silence_s, so its answer is
there when the words alone would end the utterance (an inference takes ~45 ms on one core)."""


@dataclass
class _Pause:
    """What the model said about one pause of one utterance."""

    seq: int
    label: str
    verdicts: list[float | None] = field(default_factory=list)
    """One entry per question asked: the probability of finished, None while it is on its way."""


@dataclass(frozen=True, slots=True)
class _Job:
    utterance: int
    seq: int
    index: int
    audio: np.ndarray
    label: str
    silence_s: float


@dataclass(frozen=True, slots=True)
class Answer:
    """The model's answer to one question: the probability the visitor finished (NaN: it failed)."""

    job: _Job
    probability: float
    seconds: float
    """How long the inference took."""


class TurnJudge:
    """The endpoint decision of the listen actor (one per actor); `model` None = words alone."""

    def __init__(self, settings, model: TurnModel | None, deliver: Callable[[Answer], object] | None) -> None:
        self.settings = settings
        self.model = model
        self._deliver = deliver
        """Takes each of the model's answers (from its thread) back to the actor, which hands it to take()."""
        self._pauses: dict[int, _Pause] = {}
        self._seq = 0
        self._cond = threading.Condition()
        self._job: _Job | None = None
        self._closed = False
        self._thread = None
        if model is not None:
            self._thread = threading.Thread(target=self._run, name="turn-model", daemon=True)
            self._thread.start()

    # --- the listen actor's side ------------------------------------------------------------

    def pause(self, utterance: int, audio: np.ndarray, label: str, silence_s: float) -> None:
        """The visitor paused: ask the model about the utterance so far (its audio up to now)."""
        if self.model is None:
            return
        self._seq += 1
        self._pauses[utterance] = pause = _Pause(self._seq, label)
        self._ask(utterance, pause, audio, silence_s)

    def went_on(self, utterance: int) -> None:
        """The visitor speaks again (or the utterance ended): verdicts about the pause are void."""
        self._pauses.pop(utterance, None)

    def take(self, answer: Answer) -> bool:
        """Take in one of the model's answers; True when it counts (the endpoint may be due now)."""
        job, probability, seconds = answer.job, answer.probability, answer.seconds
        pause = self._pauses.get(job.utterance)
        if probability != probability:  # NaN: the model failed; the words decide this pause
            return self._pauses.pop(job.utterance, None) is not None
        _LOGGER.debug("%s: turn model p=%.2f (%s) at %.2f s of silence, %.0f ms", job.label, probability,
                      "finished" if probability >= self.settings.turn_threshold else "unfinished",
                      job.silence_s, seconds * 1000)
        if pause is not None and pause.seq == job.seq:
            pause.verdicts[job.index] = probability
            return True
        return False

    def silence_needed(self, utterance: int, words: Verdict | None, silence_s: float,
                       audio: Callable[[], np.ndarray]) -> float:
        """The silence that ends the utterance now (seconds); `audio` gives its audio up to now,
        for the model's second look. The look always sees the same silence (min_silence_s less
        RECHECK_LEAD_S), however late it is asked: on a busy machine the first verdict comes late,
        and a look at all the silence in hand by then says "finished" sooner (a breath split a turn).
        `words` None: the pause's words are still being decoded; the endpoint waits for them (up to
        `endpoint_incomplete_s`) whatever the model says, as they may ask for more ("Hello!"): the
        transcript needs them anyway, so this costs no time (on a busy machine the decode of a
        greeting took longer than a breath may last, and the visitor's question became a turn of its own)."""
        needed = self._needed(utterance, words or Verdict.OPEN, silence_s, audio)
        return max(needed, self.settings.endpoint_incomplete_s) if words is None else needed

    def _needed(self, utterance: int, words: Verdict, silence_s: float, audio: Callable[[], np.ndarray]) -> float:
        s = self.settings
        unfinished = max(s.endpoint_unfinished_s, s.min_silence_s)
        pause = self._pauses.get(utterance)
        if words == Verdict.COMPLETE:
            return s.endpoint_complete_s
        if pause is None:
            return s.endpoint_incomplete_s if words == Verdict.INCOMPLETE else s.min_silence_s
        latest = pause.verdicts[-1]
        if latest is None:  # on its way: the endpoint waits for it (no longer than a breath may
            # last), and for as long as the words ask whatever it will say ("Hello." while a slow
            # machine's second look is still on its way: the visitor's question became a turn of its own)
            return max(unfinished, s.endpoint_incomplete_s) if words == Verdict.INCOMPLETE else unfinished
        if latest >= s.turn_threshold:
            if words == Verdict.INCOMPLETE:
                return s.endpoint_incomplete_s
            return s.endpoint_complete_s if len(pause.verdicts) == 1 else s.min_silence_s
        if len(pause.verdicts) == 1:
            look_s = max(s.min_silence_s - RECHECK_LEAD_S, s.pause_s)
            # Not once the silence is over what any answer would ask (the pause's words came late):
            # the look would only take the CPU from the answer the endpoint starts.
            if look_s <= silence_s < unfinished:
                heard = audio()
                self._ask(utterance, pause, heard[: max(0, len(heard) - round((silence_s - look_s) * SAMPLE_RATE))],
                          look_s)
                return unfinished
        return max(unfinished, s.endpoint_incomplete_s if words == Verdict.INCOMPLETE else 0.0)

    def close(self, timeout_s: float = 0.2) -> None:
        """Stop the model's thread (waits at most timeout_s for an inference in progress)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # --- the model's thread -----------------------------------------------------------------

    def _ask(self, utterance: int, pause: _Pause, audio: np.ndarray, silence_s: float) -> None:
        pause.verdicts.append(None)
        job = _Job(utterance, pause.seq, len(pause.verdicts) - 1, audio, pause.label, silence_s)
        with self._cond:
            self._job = job  # a newer question replaces one not yet started
            self._cond.notify()

    def _run(self) -> None:
        try:
            self.model.verdict(np.zeros(16000, np.float32))  # the first inference pays one-off set-up costs
        except Exception as err:  # noqa: BLE001 - reported; every question then fails the same way
            _LOGGER.warning("the turn model failed to run (%s: %s)", type(err).__name__, err)
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, self._job = self._job, None
            try:
                verdict = self.model.verdict(job.audio)
                result = Answer(job, verdict.probability, verdict.seconds)
            except Exception as err:  # noqa: BLE001 - logged; the words decide this pause
                _LOGGER.warning("%s: the turn model failed (%s: %s); the words decide", job.label,
                                type(err).__name__, err)
                result = Answer(job, float("nan"), 0.0)
            if self._deliver is not None:
                self._deliver(result)
