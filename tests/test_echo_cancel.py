"""Echo cancellation in the room: the avatar's real voice (piper, the default voice) played by the
real play actor through a simulated room (runtime/bench/room.py: a delay, a decaying impulse
response, an echo as loud as the visitor or louder) into the real microphone source and the real
listen actor (Silero, Whisper). The speaker and the microphone are the only fakes, subclasses of
the real device classes, running in real time on one clock.

With [capture] echo_cancel off, each of these tests fails: the echo alone barges in.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from runtime import factories
from runtime.bench.echo import kiosk_specs
from runtime.bench.room import Room, RoomMicrophone, active_db, erle_db, impulse_response
from runtime.config import ListenConfig, Settings
from runtime.core.messages import AudioFrame, Interrupt, PlaybackFinished, PlaybackStarted, SpeechAudio, SpeechStarted
from runtime.core.paths import models_dir
from runtime.speech.audio import SAMPLE_RATE, read_audio, to_int16, to_rate
from runtime.store.models import ModelStore
from tests.harness import Running, scaled_to

STORE = ModelStore(models_dir())
SETTINGS = Settings()
VISITOR_DB = -26.0
"""How loud the visitor is at the microphone (dBFS over their voice)."""
NO_MARGIN = ListenConfig(barge_in_echo_margin_db=0.0)
"""The echo policy's margin off: only the canceller keeps the avatar from barging in on itself."""
ANSWER = ("The dinosaur hall is on the second floor, past the gift shop. "
          "Our cafe is open until five, and the planetarium show starts every hour.")


@pytest.fixture(scope="module")
def voice() -> tuple[np.ndarray, int]:
    """The avatar's answer in its real voice (float32 at the voice's rate)."""
    engine = factories.tts_factory(SETTINGS, STORE)()
    pieces = list(engine.synthesize(ANSWER))
    return np.concatenate([p.audio for p in pieces]).astype(np.float32), pieces[0].sample_rate


def visitor_line() -> np.ndarray:
    """A real human line: "Ever tried. Ever failed." (Beckett), at VISITOR_DB."""
    audio = read_audio(STORE.resolve("speech-human") / "beckett.wav")[int(0.2 * SAMPLE_RATE):int(2.95 * SAMPLE_RATE)]
    return scaled_to(audio, VISITOR_DB)


def echo_gain(voice: tuple[np.ndarray, int], relative_db: float) -> float:
    """The room's gain that brings the avatar's echo to VISITOR_DB + relative_db at the microphone."""
    return 10 ** ((VISITOR_DB + relative_db - active_db(to_rate(voice[0], voice[1]))) / 20)


def kiosk(bus, room: Room, microphones: list, *, echo_cancel: bool, listen: ListenConfig = NO_MARGIN):
    """Play, capture (the room's microphone) and listen, as the echo bench runs them."""
    return kiosk_specs(bus, room, microphones, SETTINGS.model_copy(update={"listen": listen}), STORE, echo_cancel)


def speech(voice: tuple[np.ndarray, int]) -> SpeechAudio:
    audio, rate = voice
    return SpeechAudio(turn=0, pcm=to_int16(audio), spans=np.array([[0, len(audio)]], np.int32),
                       targets=np.zeros((1, 5), np.float32), sample_rate=rate, index=0, text=ANSWER)


def _barge_ins(rec) -> list:
    return [s for s in rec.of(SpeechStarted) if s.during_playback]


def _playing(rec) -> bool:
    return bool(rec.of(PlaybackStarted))


@contextlib.contextmanager
def answering(bus, room: Room, microphones: list, voice):
    """The kiosk (echo cancelled) in the room, the avatar saying ANSWER: yields the recorder once it is heard."""
    with Running(bus, kiosk(bus, room, microphones, echo_cancel=True), frames=False) as rec:
        assert rec.wait_for(lambda r: microphones and r.of(AudioFrame), 60), "the microphone never started"
        pub = bus.publisher()
        try:
            pub.publish(speech(voice))
            assert rec.wait_for(_playing, 10)
            yield rec
        finally:
            pub.close()


def test_the_avatars_own_voice_never_barges_in_on_itself_when_cancelled(bus, voice):
    room = Room(impulse_response(0.12), echo_gain=echo_gain(voice, +6.0))  # the echo 6 dB over a visitor
    microphones: list[RoomMicrophone] = []
    with answering(bus, room, microphones, voice) as rec:
        assert rec.wait_for(lambda r: r.of(PlaybackFinished) or _barge_ins(r), 30)
        rec.wait_for(lambda r: False, 0.6)  # the room's tail and the echo policy's
    started = room.sample_now()  # (the room goes on: take the played span from the messages)
    played = rec.of(PlaybackStarted)[0]
    ended = rec.of(PlaybackFinished)[-1] if rec.of(PlaybackFinished) else None
    assert not _barge_ins(rec), f"the avatar barged in on itself: {_barge_ins(rec)}"
    assert not [i for i in rec.of(Interrupt) if i.reason == "barge-in"]
    assert ended is not None and not ended.interrupted, "the answer was cut"
    first = microphones[0].first
    start = int((played.heard_ns - room.t0_ns) * SAMPLE_RATE // 1e9) + SAMPLE_RATE  # after a second to converge
    end = int((ended.heard_ns - room.t0_ns) * SAMPLE_RATE // 1e9)
    assert end < started
    assert erle_db(room, rec.of(AudioFrame), first, start, end) >= 25.0


def test_a_visitor_talking_over_the_avatar_is_heard_and_only_then(bus, voice):
    room = Room(impulse_response(0.05, seed=2), echo_gain=echo_gain(voice, 0.0))  # the echo as loud as the visitor
    microphones: list[RoomMicrophone] = []
    line = visitor_line()
    with answering(bus, room, microphones, voice) as rec:
        heard = rec.of(PlaybackStarted)[0].heard_ns
        onset = int((heard - room.t0_ns) * SAMPLE_RATE // 1e9) + int(2.5 * SAMPLE_RATE)
        room.say(line, onset)  # 2.5 s into the answer
        assert rec.wait_for(_barge_ins, 15), "the visitor was not heard over the avatar"
    barge = _barge_ins(rec)[0]
    onset_ns = room.time_of(onset)
    assert barge.t_ns > onset_ns, f"a barge-in {(onset_ns - barge.t_ns) / 1e6:.0f} ms before the visitor spoke"
    assert barge.t_ns < onset_ns + int(len(line) / SAMPLE_RATE * 1e9)
    assert [i for i in rec.of(Interrupt) if i.reason == "barge-in"], "the avatar was not interrupted"
