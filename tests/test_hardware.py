"""Sound devices that go away and come back: the product degrades, goes on, and recovers.

The devices are fakes at the hardware edge (subclasses of the real device classes whose
callbacks a test can stop, as an unplugged USB device stops them); the actors are real."""

from __future__ import annotations

import threading
import time

import numpy as np

from runtime.actors.capture import MicrophoneSource
from runtime.actors.play import PlayActor
from runtime.core.errors import CaptureFault
from runtime.core.messages import ActorState, ActorStatus, AudioFrame, PlaybackFinished, PlaybackStarted, SpeechAudio
from runtime.core.supervisor import ActorSpec
from runtime.hardware.sound import InputDevice, OutputDevice, SilentOutput
from runtime.speech.audio import to_int16
from tests.harness import Running

RATE = 16000


class _Stream:
    active = True  # PortAudio often keeps an unplugged stream "active": its callbacks just stop


class Plug:
    """Whether the fake device is plugged in (shared by every instance the factory makes)."""

    def __init__(self) -> None:
        self.plugged = threading.Event()
        self.plugged.set()


class FakeSpeaker(OutputDevice):
    """A speaker that asks for 20 ms blocks in real time while plugged in."""

    def __init__(self, device, fill, *, plug: Plug, rate=None) -> None:
        self.rate, self.name, self._fill, self._stream = RATE, "fake speaker", fill, _Stream()
        self.plug, self.played = plug, 0
        self.last_callback = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        block = np.zeros(RATE // 50, np.float32)
        while not self._stop.wait(0.02):
            if self.plug.plugged.is_set():
                self.last_callback = time.monotonic()
                self._fill(block, 0.0)
                self.played += int(np.count_nonzero(block))

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()


class FakeMicrophone(InputDevice):
    """A microphone that delivers 20 ms blocks of a tone in real time while plugged in."""

    def __init__(self, device, take, *, plug: Plug, rate=None) -> None:
        if not plug.plugged.is_set():
            raise CaptureFault("capture-device-missing", "no input device", "plug it in")
        self.rate, self.name, self._take, self._stream, self.plug = RATE, "fake microphone", take, _Stream(), plug
        self.last_callback = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        block = (0.1 * np.sin(np.arange(RATE // 50) / 3)).astype(np.float32)
        while not self._stop.wait(0.02):
            if self.plug.plugged.is_set():
                self.last_callback = time.monotonic()
                self._take(block.copy())

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()


def _piece(index: int, seconds: float) -> SpeechAudio:
    tone = (0.3 * np.sin(np.arange(int(seconds * RATE)) / 5)).astype(np.float32)
    return SpeechAudio(turn=0, pcm=to_int16(tone), spans=np.array([[0, len(tone)]], np.int32),
                       targets=np.zeros((1, 5), np.float32), sample_rate=RATE, index=index)


def _states(rec, actor: str) -> list[tuple[str, str]]:
    return [(s.state, s.detail) for s in rec.of(ActorStatus) if s.actor == actor]


def test_a_speaker_that_goes_away_falls_back_to_the_silent_clock_and_comes_back(bus):
    plug = Plug()
    made: list[OutputDevice] = []

    def output(fill):
        device = FakeSpeaker(None, fill, plug=plug) if plug.plugged.is_set() else SilentOutput(None, fill, rate=RATE)
        made.append(device)
        return device

    def play():
        actor = PlayActor("play", bus, output_factory=output)
        actor.retry_s = 0.2
        return actor

    with Running(bus, [ActorSpec("play", play)]) as rec:
        pub = bus.publisher()
        try:
            pub.publish(_piece(0, 3.0))
            assert rec.wait_for(lambda r: r.of(PlaybackStarted), 10)
            plug.plugged.clear()  # unplugged mid-answer
            assert rec.wait_for(lambda r: any(s == ActorState.DEGRADED and "play-device-lost" in d
                                              for s, d in _states(r, "play")), 10)
            assert rec.wait_for(lambda r: r.of(PlaybackFinished), 10), "the answer goes on, on the silent clock"
            assert not [s for s, _ in _states(rec, "play") if s == ActorState.FAILED]
            plug.plugged.set()  # plugged back
            assert rec.wait_for(lambda r: ("ready", "recovered") in _states(r, "play"), 10)
            speaker = made[-1]
            assert isinstance(speaker, FakeSpeaker) and speaker is not made[0]
            pub.publish(_piece(1, 0.5))
            assert rec.wait_for(lambda r: [m for m in r.of(PlaybackFinished) if m.index == 1], 10)
            assert speaker.played > 0.4 * RATE, "the next answer is heard on the speaker again"
        finally:
            pub.close()


def test_a_microphone_that_goes_away_is_reopened_when_it_is_back(bus):
    plug = Plug()

    def microphone():
        actor = MicrophoneSource("capture", bus, input_factory=lambda device, take, rate=None: FakeMicrophone(
            device, take, plug=plug, rate=rate))
        actor.retry_s = 0.2
        return actor

    with Running(bus, [ActorSpec("capture", microphone)]) as rec:
        assert rec.wait_for(lambda r: len(r.of(AudioFrame)) > 10, 10), "positive control: sound flows"
        plug.plugged.clear()
        assert rec.wait_for(lambda r: any(s == ActorState.DEGRADED and "capture-device-lost" in d
                                          for s, d in _states(r, "capture")), 10)
        before = len(rec.of(AudioFrame))
        time.sleep(1.0)  # away for a while: the retries find nothing
        assert len(rec.of(AudioFrame)) - before < 5
        plug.plugged.set()
        assert rec.wait_for(lambda r: ("ready", "recovered") in _states(r, "capture"), 10)
        after = len(rec.of(AudioFrame))
        assert rec.wait_for(lambda r: len(r.of(AudioFrame)) > after + 10, 10), "sound flows again"
        assert not [s for s, _ in _states(rec, "capture") if s == ActorState.FAILED]
        offsets = [f.offset_samples for f in rec.of(AudioFrame)]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), "one input timeline"
