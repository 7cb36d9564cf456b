"""Faults a kiosk must survive: an actor that crashes mid-conversation, a pipeline that is still
thinking when the input ends."""

from __future__ import annotations

import functools

import numpy as np

from runtime import product
from runtime.actors.capture import FileSource
from runtime.actors.listen import ListenActor
from runtime.actors.think import ThinkActor
from runtime.core.config import EchoThink, Settings, SupervisorConfig
from runtime.core.messages import ActorState, ActorStatus, ReplyChunk, Transcript
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.store.models import ModelStore
from tests.harness import Running, write_wav

STORE = ModelStore(models_dir())
SAMPLES = STORE.resolve("speech-samples")
SETTINGS = Settings(think=EchoThink(type="echo"))


class CrashesAfterSecondQuestion(ListenActor):
    """The real listen actor, whose thread dies right after it published its second final
    transcript (as a driver or engine bug would kill it mid-conversation)."""

    finals = 0

    def publish(self, msg) -> None:
        super().publish(msg)
        if isinstance(msg, Transcript) and msg.final:
            CrashesAfterSecondQuestion.finals += 1
            if CrashesAfterSecondQuestion.finals == 2:
                raise RuntimeError("listen crashed")


def test_a_listener_restarted_mid_conversation_hears_and_gets_the_next_question_answered(bus, tmp_path):
    def speech(name: str, then_s: float) -> list[np.ndarray]:
        return [read_audio(SAMPLES / f"{name}.wav"), np.zeros(int(then_s * SAMPLE_RATE), np.float32)]

    # The listener dies after the second question; the third comes after it had time to restart.
    audio = np.concatenate([np.zeros(8000, np.float32), *speech("en-hello_world", 3.0),
                            *speech("en-hello_world", 10.0), *speech("en-quick_brown_fox", 2.5)])
    path = write_wav(tmp_path / "three-questions.wav", audio)
    specs = [
        ActorSpec("think", functools.partial(ThinkActor, "think", bus,
                                             dialogue_factory=product.dialogue_factory(SETTINGS, STORE))),
        ActorSpec("listen", functools.partial(
            CrashesAfterSecondQuestion, "listen", bus, asr_factory=product.asr_factory(SETTINGS, STORE),
            vad_factory=product.vad_factory(SETTINGS, STORE), settings=SETTINGS.listen)),
        ActorSpec("capture", lambda: FileSource("capture", bus, path=path, speed=1.0)),
    ]
    fast_restart = SupervisorConfig(restart_backoff_s=0.05)

    def fox_answered(rec) -> bool:
        return any("fox" in c.text.lower() for c in rec.of(ReplyChunk))

    with Running(bus, specs, fast_restart) as rec:
        assert rec.wait_for(fox_answered, timeout_s=len(audio) / SAMPLE_RATE + 60), "; ".join(
            f"{type(m).__name__} {m.turn} {getattr(m, 'state', getattr(m, 'text', ''))}" for m in rec.messages
            if type(m).__name__ not in ("Heartbeat", "AudioFrame", "ProcessStats"))
    failed = [s for s in rec.of(ActorStatus) if s.actor == "listen" and s.state == ActorState.FAILED]
    assert failed, "the listener crashed (positive control)"
    last = [t for t in rec.of(Transcript) if t.final][-1]
    assert last.turn > max(t.turn for t in rec.of(Transcript) if t.final and "hello" in t.text.lower())
