"""The end of what the visitor says, decided by the turn model with the words: real Silero,
Whisper, Smart Turn, LLM, voice and speaker clock on a real bus, driven by recorded human speech."""

from __future__ import annotations

import functools
import logging

import numpy as np

from runtime import factories
from runtime.actors.capture import FileSource
from runtime.actors.listen import ListenActor
from runtime.actors.think import ThinkActor
from runtime.config import ListenConfig
from runtime.core.messages import Interrupt, PlaybackFinished, ReplyChunk, Transcript
from runtime.core.supervisor import ActorSpec
from runtime.speech.audio import to_rate
from tests.conftest import wait_for
from tests.harness import Running, write_wav
from tests.test_latency import SETTINGS, STORE, Microphone, conversation, human, silence
from tests.test_turn import voiced


def hearing_with_the_turn_model(bus, listen: ListenConfig) -> ActorSpec:
    settings = SETTINGS.model_copy(update={"listen": listen})
    return ActorSpec("listen", functools.partial(
        ListenActor, "listen", bus, asr_factory=factories.asr_factory(settings, STORE),
        vad_factory=factories.vad_factory(settings, STORE), turn_factory=factories.turn_factory(settings, STORE),
        settings=listen))


def _finals(rec) -> list[Transcript]:
    return [t for t in rec.of(Transcript) if t.final and t.text.strip()]


def test_a_breath_in_the_middle_of_a_sentence_is_one_turn_answered_once(bus, tmp_path):
    """A Dickens reader breathes 0.7 s after "...insisted on its being received, for good" and goes
    on "or for evil, in the superlative degree of comparison only.": one visitor turn, one answer
    to the whole sentence. (With the words alone the pause ended the utterance: a turn was voided
    and heard again.)"""
    first = voiced(human("speech-human", "two_cities.wav", 32.8, 37.4))
    then = voiced(human("speech-human", "two_cities.wav", 37.55, 41.6))
    path = write_wav(tmp_path / "breath.wav", np.concatenate([silence(0.5), first, silence(0.7), then, silence(3.0)]))
    listen = ListenConfig(endpoint_unfinished_s=1.2)  # the operator's choice to hold breaths
    specs = [*conversation(bus, listen)[:-1], hearing_with_the_turn_model(bus, listen),
             ActorSpec("capture", lambda: FileSource("capture", bus, path=path, speed=1.0))]
    running = Running(bus, specs)

    def answered(r) -> list[ReplyChunk]:
        wholes = {f.turn for f in _finals(r) if "good" in f.text.lower() and "evil" in f.text.lower()}
        return [c for c in r.of(ReplyChunk) if c.turn in wholes and c.last]

    with running as rec:
        assert rec.wait_for(answered, 90), f"the whole sentence was not answered: heard {_finals(rec)}"
        think = next(a for a in running.supervisor.actors if isinstance(a, ThinkActor))
        # The exchange enters the memory after the answer's last chunk is out: wait for that.
        remembered = wait_for(lambda: [t.user for t in think.dialogue.memory.turns], 30) or []
    heard = [f.text for f in _finals(rec)]
    assert len(heard) == 1, f"the breath split the sentence: heard {heard}"
    voided = [i.resumes for i in rec.of(Interrupt) if i.resumes >= 0]
    assert not voided, f"the breath ended the utterance (turns {voided} voided and heard again): heard {heard}"
    whole = answered(rec)[0].turn
    assert not [p.turn for p in rec.of(PlaybackFinished) if not p.interrupted and p.turn != whole], \
        "an answer to half the sentence was heard"
    assert len(remembered) == 1 and "evil" in remembered[0].lower(), f"the memory holds {remembered}"


def test_a_visitor_who_greets_and_then_asks_is_one_turn(bus, tmp_path):
    """"Hello! [0.5 s] Where can I find the cafe?": the greeting alone does not end the turn (the
    turn model hears "Hello!" as finished, and it ended after 0.3 s: the avatar answered the
    greeting while the visitor asked, and the question voided that turn and was heard again)."""
    voice = factories.tts_factory(SETTINGS, STORE)()
    hello, question = (to_rate(np.concatenate([p.audio for p in voice.synthesize(text)]), voice.sample_rate)
                       for text in ("Hello!", "Where can I find the cafe?"))  # no comma: one pause, after the greeting
    audio = np.concatenate([silence(0.5), hello, silence(0.5), question, silence(2.5)])
    path = write_wav(tmp_path / "greet.wav", audio)
    listen = ListenConfig()
    specs = [hearing_with_the_turn_model(bus, listen),
             ActorSpec("capture", lambda: FileSource("capture", bus, path=path, speed=1.0))]
    with Running(bus, specs) as rec:
        assert rec.wait_for(lambda r: [f for f in _finals(r) if "cafe" in f.text.lower()], 60), \
            f"the question was not heard: {[f.text for f in _finals(rec)]}"
    heard = [f.text for f in _finals(rec)]
    assert len(heard) == 1 and "hello" in heard[0].lower(), f"the greeting was a turn of its own: heard {heard}"
    assert not [i.resumes for i in rec.of(Interrupt) if i.resumes >= 0], f"a turn was voided: heard {heard}"


def test_a_finished_sentence_and_a_question_end_after_the_short_silence(bus, caplog):
    """A sentence the turn model hears as finished ends after endpoint_complete_s of silence, like
    a question (with the words alone it waited min_silence_s); the question is no later than before.
    The test feeds 0.4 s of silence and no more until the endpoint: silence is counted in samples."""
    caplog.set_level(logging.DEBUG, logger="runtime.speech.endpointing")
    listen = ListenConfig()
    assert listen.endpoint_complete_s < 0.4 < listen.min_silence_s
    sentence = voiced(human("speech-human", "two_cities.wav", 32.8, 41.6))  # "...of comparison only."
    question = voiced(human("speech-dialogue", "endgame_nagg_nell.wav", 17.3, 19.15))  # "What are you talking about?"
    with Running(bus, [hearing_with_the_turn_model(bus, listen)]) as rec:
        mic = Microphone(bus)
        try:
            mic.say(np.concatenate([silence(0.5), sentence, silence(0.4)]))
            ended = rec.wait_for(lambda r: _finals(r), 60)
            mic.say(silence(1.5))  # a real pause: the question is a new utterance
            if ended:
                mic.say(np.concatenate([question, silence(0.4)]))
                rec.wait_for(lambda r: len(_finals(r)) >= 2, 60)
        finally:
            mic.close()
    finals = _finals(rec)
    assert ended, f"the finished sentence did not end after 0.4 s of silence: heard {[f.text for f in finals]}"
    assert "comparison" in finals[0].text.lower() and finals[0].silence_ms <= 400
    assert len(finals) == 2 and "talking" in finals[1].text.lower() and finals[1].silence_ms <= 400, \
        [(f.text, f.silence_ms) for f in finals]
    verdicts = [r.getMessage() for r in caplog.records if "turn model p=" in r.getMessage()]
    assert any("(finished)" in v and " ms" in v for v in verdicts), verdicts  # the debug log has verdict and time
