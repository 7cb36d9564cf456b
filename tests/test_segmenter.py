"""The turn segmenter (runtime/speech/segmenter.py) driven by synthetic detector flags, levels and
decoded words: fast, no models, no threads. Each test plays a visitor as the listen actor would
feed the segmenter, and the decoder by answering the decodes it asks for."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.config.sections import ListenConfig
from runtime.core.messages import Interrupt, InterruptReason, SpeechPaused, SpeechStarted, Transcript
from runtime.engines.asr import AsrResult
from runtime.speech.audio import SAMPLE_RATE
from runtime.speech.endpointing import TurnJudge
from runtime.speech.segmenter import Segmenter
from runtime.speech.utterance import Heard, JobKind

FRAME = SAMPLE_RATE // 50
"""20 ms, as the microphone delivers it."""


class Visitor:
    """A visitor in front of the kiosk, as the two voice detectors hear them, and the decoder."""

    def __init__(self, **listen) -> None:
        self.settings = ListenConfig(**listen)
        self.now = 100.0
        self.sample = 0
        self.events: list = []
        self.asked: list[tuple[JobKind, int, int]] = []
        """Decodes asked for: (kind, utterance, end sample)."""
        self.busy = False
        self._turn = 0
        self._said = 0.0  # seconds of the current stretch of speech
        self._quiet = 0.0
        self._phrase_start = -1
        self._speech_end = -1
        self.seg = Segmenter(self.settings, TurnJudge(self.settings, None, None), publish=self.events.append,
                             open_turn=self._open_turn, decode=self._decode,
                             audio=lambda start, end: np.zeros(max(0, end - start), np.float32),
                             clock=lambda: self.now)

    def _open_turn(self) -> int:
        self._turn += 1
        return self._turn

    def _decode(self, kind: JobKind, utt, end: int) -> bool:
        if self.busy and kind != JobKind.FINAL:
            return False
        self.asked.append((kind, utt.id, end))
        return True

    def _frame(self, speaking: bool, barge: bool, level_db: float, phrases=(), voiced: bool = True) -> None:
        self.sample += FRAME
        self.now += FRAME / SAMPLE_RATE
        self.seg.frame(Heard(0, self.sample, speaking, barge, level_db, level_db, tuple(phrases), voiced))

    def speak(self, seconds: float, level_db: float = -20.0) -> None:
        """Speech: the phrase detector hears it min_speech_s late, the strict one one window late."""
        if self._phrase_start < 0:
            self._phrase_start, self._said = self.sample, 0.0
        for _ in range(round(seconds * 50)):
            self._said += FRAME / SAMPLE_RATE
            self._quiet = 0.0
            self._frame(self._said >= self.settings.min_speech_s, self._said >= 0.04, level_db)
        self._speech_end = self.sample

    def pause(self, seconds: float) -> None:
        """Silence: the phrase ends pause_s into it (the detector's own minimum silence)."""
        for _ in range(round(seconds * 50)):
            self._quiet += FRAME / SAMPLE_RATE
            in_phrase = self._phrase_start >= 0
            ended = in_phrase and self._quiet >= self.settings.pause_s
            phrases = ()
            if ended:
                if self._said >= self.settings.min_speech_s:
                    phrases = ((self._phrase_start, self._speech_end),)
                self._phrase_start = -1
            self._frame(in_phrase and not ended and self._said >= self.settings.min_speech_s, False, -70.0, phrases,
                        voiced=False)

    def stops(self, text: str) -> None:
        """The visitor stops: the pause's decode brings these words, and the endpoint comes."""
        self.pause(0.2)
        self.words(JobKind.SPECULATIVE, text)
        self.pause(0.4)

    def words(self, kind: JobKind, text: str | None) -> None:
        """The decoder answers the latest decode of this kind it was asked for (None: it failed)."""
        kind_, utterance, end = [a for a in self.asked if a[0] == kind][-1]
        result = None if text is None else AsrResult(text, "en")
        self.seg.decoded(kind_, utterance, end, result, "" if text else "engine error")

    def finals(self) -> list[Transcript]:
        return [e for e in self.events if isinstance(e, Transcript) and e.final]

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def test_a_question_is_answered_once_its_words_come_after_a_short_silence():
    v = Visitor()
    v.speak(1.5)
    v.pause(0.2)
    assert v.of(SpeechPaused), "the pause was not noticed"
    assert v.asked[-1][0] == JobKind.SPECULATIVE, "the words so far were not decoded at the pause"
    v.words(JobKind.SPECULATIVE, "Where is the cafe?")
    v.pause(0.3)
    finals = v.finals()
    assert [f.text for f in finals] == ["Where is the cafe?"]
    assert finals[0].turn == v.of(SpeechStarted)[0].turn
    assert 0.25 <= finals[0].silence_ms / 1000 <= 0.4, "a question waits endpoint_complete_s, no more"


def test_the_endpoint_waits_for_the_pause_s_words_and_the_visitor_who_goes_on_stays_in_the_turn():
    """A greeting's decode slower than a breath: the question after it is the same turn."""
    v = Visitor()
    v.speak(0.6)
    v.pause(0.7)  # the decode of "Hello." has not come yet
    assert not v.finals(), "the endpoint did not wait for the pause's words"
    v.speak(1.5)
    v.stops("Hello. Where can I find the cafe?")
    assert [f.text for f in v.finals()] == ["Hello. Where can I find the cafe?"]
    assert len(v.of(SpeechStarted)) == 1, "the visitor's second sentence opened a turn of its own"


def test_a_pause_with_no_words_decoded_ends_after_endpoint_incomplete_s():
    v = Visitor()
    v.speak(1.0)
    v.pause(0.9)
    assert not any(k == JobKind.FINAL for k, _, _ in v.asked)
    v.pause(0.3)
    assert v.seg.current is None, "the endpoint waited longer than endpoint_incomplete_s for words"


def test_a_breath_after_the_endpoint_merges_into_one_turn_answered_to_the_whole():
    v = Visitor()
    v.speak(1.5)
    v.pause(0.15)
    v.words(JobKind.SPECULATIVE, "He was not an ill disposed young man.")
    v.pause(0.4)
    first = v.finals()
    assert [f.text for f in first] == ["He was not an ill disposed young man."]
    v.speak(2.0)  # 0.55 s of silence, then the sentence goes on
    resumed = v.of(Interrupt)[-1]
    assert resumed.resumes == first[0].turn and resumed.reason == InterruptReason.SPECULATION, \
        "the first half's answer is not void"
    v.stops("He was not an ill disposed young man, unless to be rather cold-hearted.")
    whole = v.finals()[-1]
    assert whole.turn == resumed.turn and whole.start_s == first[0].start_s, "the whole was not answered as one"


def test_no_endpoint_while_the_visitor_may_be_going_on_so_the_answer_never_starts_over_their_words():
    """ "Where is the cafe, [0.27 s] please?": the pause's words come when the visitor already speaks
    again, before the phrase detector says so (min_speech_s late). An endpoint then started the
    kept greeting at once, over "please", cut off 50 ms later (CI, 2026-12-07)."""
    v = Visitor()
    v.speak(1.5)
    v.pause(0.26)
    v.speak(0.1)  # voiced, but the phrase detector does not hear it yet
    v.words(JobKind.SPECULATIVE, "Where is the cafe?")
    assert not v.finals(), "the answer started while the visitor was speaking"
    v.speak(0.4)
    v.stops("Where is the cafe, please?")
    assert [f.text for f in v.finals()] == ["Where is the cafe, please?"]
    assert all(i.resumes == -1 for i in v.of(Interrupt)), "a turn was answered, then made void"


def test_a_voiced_noise_in_the_pause_delays_the_endpoint_by_its_own_length_only():
    v = Visitor()
    v.speak(1.5)
    v.pause(0.2)
    v.words(JobKind.SPECULATIVE, "Where is the cafe?")
    v.pause(0.08)
    v.speak(0.06)  # a cough: Silero scores three frames as speech, the phrase detector never hears it
    assert not v.finals()
    v.pause(0.02)
    assert [f.text for f in v.finals()] == ["Where is the cafe?"], "the first quiet frame did not end the turn"


def test_a_real_pause_is_a_new_turn():
    v = Visitor()
    v.speak(1.0)
    v.pause(0.15)
    v.words(JobKind.SPECULATIVE, "Thank you.")
    v.pause(1.5)
    v.speak(1.0)
    assert all(i.resumes == -1 for i in v.of(Interrupt))
    assert len(v.of(SpeechStarted)) == 2


def test_an_answer_prepared_at_a_pause_is_discarded_when_the_visitor_goes_on():
    v = Visitor()
    v.speak(1.0)
    v.pause(0.15)
    v.words(JobKind.SPECULATIVE, "I would like")  # open words: the endpoint waits, the answer is prepared
    ahead = [e for e in v.events if isinstance(e, Transcript) and e.speculative]
    assert [a.text for a in ahead] == ["I would like"]
    v.speak(1.0)
    discard = v.of(Interrupt)[-1]
    assert discard.reason == InterruptReason.SPECULATION and discard.turn > ahead[0].turn
    v.pause(0.15)
    v.words(JobKind.SPECULATIVE, "I would like a coffee.")
    v.pause(0.4)
    assert [(f.turn, f.text) for f in v.finals()] == [(discard.turn, "I would like a coffee.")]


def test_the_pauses_words_are_the_final_of_the_same_turn_when_the_visitor_stops_there():
    v = Visitor(speculate=True)
    v.speak(1.0)
    v.pause(0.15)
    v.words(JobKind.SPECULATIVE, "I would like")
    turn = v.of(SpeechStarted)[0].turn
    v.pause(1.2)  # the endpoint: the pause's decode covers it and is the final
    assert [(f.turn, f.text) for f in v.finals()] == [(turn, "I would like")], "an answer prepared but not heard"


def test_a_busy_decoder_still_gets_the_final_at_the_endpoint():
    v = Visitor()
    v.busy = True  # the pause's decode is skipped
    v.speak(1.0)
    v.pause(0.6)
    finals = [a for a in v.asked if a[0] == JobKind.FINAL]
    assert len(finals) == 1, "no final decode was asked"
    v.words(JobKind.FINAL, "Good morning.")
    assert [f.text for f in v.finals()] == ["Good morning."]


def test_a_failed_decode_closes_the_turn_with_an_empty_final():
    v = Visitor()
    v.busy = True
    v.speak(1.0)
    v.pause(0.6)
    v.words(JobKind.FINAL, None)
    assert [f.text for f in v.finals()] == [""], "the face would keep listening to a turn nobody answers"


def test_partials_come_every_partial_interval_while_the_visitor_speaks_never_after_the_endpoint():
    v = Visitor(partial_interval_s=0.5)
    v.speak(2.1)
    ends = [end / SAMPLE_RATE for kind, _, end in v.asked if kind == JobKind.PARTIAL]
    assert len(ends) == 3 and np.allclose(np.diff(ends), 0.5, atol=0.021), ends  # the first 0.5 s after the onset
    v.pause(0.15)
    v.words(JobKind.SPECULATIVE, "Where is the exit?")
    v.pause(0.4)
    v.words(JobKind.PARTIAL, "Where is")  # late: the final is out
    assert not [e for e in v.events if isinstance(e, Transcript) and not e.final and not e.speculative]


def test_no_partial_starts_once_the_visitor_has_stopped_so_the_pauses_decode_never_waits_for_one():
    # The phrase detector hears "speech" for pause_s after the last word; a partial decode started
    # then took the decoder when the pause's own decode came (it waited 60-250 ms for it in half
    # the bench's turns, and the answer with it).
    v = Visitor(partial_interval_s=0.5)
    v.speak(1.75)  # the onset at 0.26 s, partials at 0.78 and 1.30 s; the next falls due 0.07 s into the silence
    v.pause(0.1)
    partial_ends = [end for kind, _, end in v.asked if kind == JobKind.PARTIAL]
    assert len(partial_ends) == 2 and max(partial_ends) <= round(1.75 * SAMPLE_RATE), partial_ends
    v.speak(0.3)  # the visitor goes on: partials come again
    assert len([k for k, _, _ in v.asked if k == JobKind.PARTIAL]) == 3


@pytest.mark.parametrize("decode_s", [0.15, 0.9])
def test_on_a_slow_machine_the_decoder_rests_between_partials_as_long_as_one_takes(decode_s):
    """Partials back to back (0.5-0.8 s each on a slow CPU) kept the decoder busy until the visitor
    stopped, and the pause's decode waited for the one in flight: the next partial comes no sooner
    than the last one's own decoding time after it came back. A quick decoder keeps the interval."""
    v = Visitor(partial_interval_s=0.5)

    def talk_until_a_partial(limit_s: float = 3.0) -> float:
        asked, since = len(v.asked), v.now
        while len(v.asked) == asked and v.now < since + limit_s:
            v.speak(0.02)
        assert v.asked[-1][0] == JobKind.PARTIAL
        return v.now

    queued = talk_until_a_partial()
    v.busy = True  # decoding it
    v.speak(decode_s)
    v.busy = False
    kind, utterance, end = v.asked[-1]
    v.seg.decoded(kind, utterance, end, AsrResult("Where is", "en"), "", decode_s)
    back = v.now
    following = talk_until_a_partial()
    # 0.5 s after the last one for the quick decoder, 0.9 s after it came back for the slow one
    expected = max(queued + 0.5, back + decode_s)
    assert following == pytest.approx(expected, abs=0.03), (following - queued, following - back)


def test_a_monologue_is_cut_at_max_utterance_s():
    v = Visitor(max_utterance_s=3.0)
    v.speak(3.5)
    assert any(a[0] == JobKind.FINAL for a in v.asked), "a visitor who never pauses is never answered"
    assert v.seg.current is not None and v.seg.current.id == 2, "the speech after the cut is a new utterance"


@pytest.mark.parametrize("echo_db", [-45.0, -38.0])
def test_the_avatar_s_own_voice_is_never_the_visitor_but_a_visitor_talking_over_it_is(echo_db):
    v = Visitor()
    v.seg.playback_started()
    v.speak(2.0, level_db=echo_db)  # the echo: both detectors hear speech, under barge_in_min_dbfs
    v.pause(0.3)
    assert not v.of(SpeechStarted), "the avatar interrupted itself"
    start = v.sample
    v.speak(0.5, level_db=-18.0)
    heard = v.of(SpeechStarted)
    assert len(heard) == 1 and heard[0].during_playback
    assert v.of(Interrupt)[0].reason == InterruptReason.BARGE_IN
    assert v.seg.current.heard_at - start <= 0.06 * SAMPLE_RATE, "the barge-in waited for the phrase detector"


def test_the_echo_margin_asks_the_visitor_to_be_louder_than_the_echo():
    v = Visitor(barge_in_echo_margin_db=6.0)
    v.seg.playback_started()
    v.speak(2.0, level_db=-25.0)  # a loud speaker: over barge_in_min_dbfs
    assert not v.of(SpeechStarted), "a loud echo barged in despite the margin"
    v.pause(0.3)
    v.speak(0.5, level_db=-12.0)
    assert len(v.of(SpeechStarted)) == 1


def test_the_policy_lasts_echo_tail_s_after_playback_then_any_speech_is_the_visitor():
    v = Visitor(echo_tail_s=0.3)
    v.seg.playback_started()
    v.seg.playback_finished()
    v.speak(1.0, level_db=-45.0)  # quiet speech right after the avatar stopped: its reverb
    assert not v.of(SpeechStarted)
    v.pause(0.5)
    v.speak(1.0, level_db=-45.0)  # a soft-spoken visitor, later
    assert len(v.of(SpeechStarted)) == 1 and not v.of(SpeechStarted)[0].during_playback
