"""Recordings: written as they happen, playable after a kill, rotated and bounded, refused early
when they cannot be written, and a full disk stops only the recording."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from runtime.actors.record import RATE, RecordActor
from runtime.core.messages import ActorState, ActorStatus, AudioFrame, PlaybackStarted, SpeechAudio, VideoFrame
from runtime.core.supervisor import ActorSpec
from runtime.hardware.media import read_clip
from runtime.speech.audio import to_int16
from runtime.store.recordings import Recordings, Retention
from tests.conftest import REPO, wait_for
from tests.harness import Running
from tests.test_run import ECHO, Product

SIZE, FPS = 64, 25


def _frame(i: int, origin_ns: int) -> VideoFrame:
    rgb = np.full((SIZE, SIZE, 3), (i * 7) % 255, np.uint8)
    return VideoFrame(rgb=rgb, shown_ns=origin_ns + int(i / FPS * 1e9))


def _record(bus, recordings: Recordings, messages, *, include_input: bool = False, input_timeline: bool = False,
            encoded: bool = False):
    """Publish messages to a real record actor, each frame once the one before was taken (a recorder
    behind skips frames: the bus keeps only a few for it) or, when `encoded`, once the one before is
    in the file (one that comes while the last waits to be encoded replaces it); returns the bus log."""
    specs = [ActorSpec("record", lambda: RecordActor("record", bus, recordings=recordings, size=SIZE, fps=FPS,
                                                     include_input=include_input, input_timeline=input_timeline))]
    running = Running(bus, specs)
    with running as rec:
        pub = bus.publisher()
        actor = running.supervisor.actors[0]
        try:
            frames, first_ns = 0, None
            for msg in messages:
                pub.publish(msg)
                if isinstance(msg, VideoFrame):
                    frames += 1
                    assert wait_for(lambda n=frames: actor.frames_seen >= n or actor.degraded, 30)
                    first_ns = msg.shown_ns if first_ns is None else first_ns
                    if encoded:  # the file stands past this frame's place on the timeline
                        index = round((msg.shown_ns - first_ns) / 1e9 * FPS)
                        assert wait_for(lambda i=index: actor.recorded_s * FPS > i or actor.degraded, 30)
        finally:
            pub.close()
    return rec


def test_a_voice_at_another_rate_is_recorded_at_its_own_pitch_and_length(bus, tmp_path):
    """Kokoro speaks at 24 kHz, Piper at 22.05 kHz: both must sound right in the recording."""
    origin = time.monotonic_ns()
    voice_rate = 16000  # far from the recording's rate: a wrong rate would be obvious
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(voice_rate) / voice_rate)).astype(np.float32)
    piece = SpeechAudio(pcm=to_int16(tone), spans=np.array([[0, len(tone)]], np.int32),
                        targets=np.zeros((1, 5), np.float32), sample_rate=voice_rate)
    frames = [_frame(i, origin) for i in range(3 * FPS)]
    messages = [*frames[:FPS], piece, PlaybackStarted(heard_ns=origin + int(1e9)), *frames[FPS:]]
    out = tmp_path / "voice.mp4"
    _record(bus, Recordings(out), messages)
    _, fps, audio, rate = read_clip(out)
    assert fps == FPS and rate == RATE
    loud = np.nonzero(np.abs(audio) > 0.2)[0]
    assert abs(loud[0] / rate - 1.0) < 0.05 and abs((loud[-1] - loud[0]) / rate - 1.0) < 0.05
    spectrum = np.abs(np.fft.rfft(audio[loud[0]:loud[-1]]))
    assert abs(np.argmax(spectrum) * rate / (loud[-1] - loud[0]) - 440) < 5


def test_a_face_drawn_late_is_recorded_neither_behind_nor_ahead_of_its_time(bus, tmp_path):
    """On a busy box the face draws fewer frames than the file has (here 10 a second for 25). Each
    of the file's frames must show the nearest drawing in time: holding every drawing until the
    next made the whole recording's lips late (a live run measured 41 ms on a loaded machine)."""
    origin, drawn_fps = time.monotonic_ns(), 10
    frames = [VideoFrame(rgb=np.full((SIZE, SIZE, 3), 20 + 10 * i, np.uint8),
                         shown_ns=origin + int(i / drawn_fps * 1e9)) for i in range(2 * drawn_fps)]
    out = tmp_path / "late.mp4"
    _record(bus, Recordings(out), frames, encoded=True)  # each drawing reaches the encoder
    recorded, fps, _, _ = read_clip(out)
    drawn_at = [(float(np.mean(f)) - 20) / 10 / drawn_fps for f in recorded[:-drawn_fps]]  # when each was drawn
    lag_ms = 1000 * float(np.mean([t - k / fps for k, t in enumerate(drawn_at)]))
    assert abs(lag_ms) <= 10, f"the recording shows the face {lag_ms:+.0f} ms off its time"


def test_recordings_rotate_are_pruned_and_are_private(bus, tmp_path):
    origin = time.monotonic_ns()
    series = Recordings(tmp_path / "rec", Retention(segment_s=1.0, keep_files=2), directory=True)
    series.check()
    _record(bus, series, [_frame(i, origin) for i in range(int(3.5 * FPS))])
    files = series.files()
    assert len(files) == 2, files  # four files were written; the oldest two were deleted
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        frames, _, audio, rate = read_clip(path)
        assert len(frames) <= FPS + 1 and len(audio) / rate <= 1.1
    assert stat.S_IMODE((tmp_path / "rec").stat().st_mode) == 0o700


def test_a_restarted_recorder_goes_on_in_a_new_file(bus, tmp_path):
    """It joins the input's timeline late (offset > 0) and must not wait for offset 0."""
    series = Recordings(tmp_path / "talk.mp4")
    (tmp_path / "talk.mp4").write_bytes(b"earlier")
    series._opened.append(tmp_path / "talk.mp4")  # as if a recorder before this one had written it
    start = time.monotonic_ns()
    later = [AudioFrame(pcm=np.zeros(320, np.int16), offset_samples=16000 * 60 + 320 * i,
                        t_ns=start + int(0.02 * i * 1e9)) for i in range(100)]
    frames = [_frame(i, start) for i in range(2 * FPS)]
    messages = [m for pair in zip(later, frames, strict=False) for m in pair]
    _record(bus, series, messages, include_input=True, input_timeline=True)
    assert (tmp_path / "talk.mp4").read_bytes() == b"earlier", "the earlier recording is kept"
    frames_out, _, audio, rate = read_clip(tmp_path / "talk-2.mp4")
    assert len(frames_out) >= FPS, "the restarted recorder writes"
    assert len(audio) / rate < 3, "the new file starts where the recorder joined, not at t = 0"


@pytest.mark.parametrize("target", ["missing/out.mp4", "a-directory", "out.wav", "/sys/kernel/out.mp4"])
def test_a_recording_that_cannot_be_written_is_refused_before_anything_loads(tmp_path, target):
    (tmp_path / "a-directory").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    done = subprocess.run([sys.executable, "-m", "runtime", "run", "--config", ECHO, "--record", path],
                          capture_output=True, text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL,
                          env={**os.environ, "EDGE_TALKER_STATE": str(tmp_path / "state")}, check=False)
    assert done.returncode != 0
    assert "error[record-open-failed]" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr and "ready:" not in done.stderr


def test_a_full_disk_stops_the_recording_and_the_conversation_goes_on(tmp_path):
    full = tmp_path / "full.mp4"
    full.symlink_to("/dev/full")
    product = Product("--record", str(full), "--exit-when-idle")
    try:
        product.wait_ready(60)
        product.say("hello kiosk")
        product.expect("avatar> You said: hello kiosk", 60)
        product.proc.stdin.close()
        code = product.proc.wait(timeout=60)
    finally:
        if product.proc.poll() is None:
            product.proc.kill()
    err = "\n".join(product.stderr)
    assert "error[record-disk-full]" in err and "Fatal Python error" not in err and "Traceback" not in err
    assert code == 1, "asked to record and could not: not a success"


def _playable(path, frames: int, sound_s: float) -> bool:
    """A player gets that many frames and seconds of sound from a recording being written."""
    import av

    try:
        shown, _, audio, rate = read_clip(path, truncated=True)
    except (OSError, av.FFmpegError, IndexError):  # not yet a whole fragment
        return False
    return len(shown) >= frames and rate > 0 and len(audio) / rate >= sound_s


def test_a_killed_run_leaves_a_playable_recording(tmp_path):
    out = tmp_path / "killed.mp4"
    product = Product("--record", str(out))
    try:
        product.wait_ready(60)
        product.say("hello kiosk")
        product.expect("avatar> You said: hello kiosk", 60)
        # Killed once closed fragments (one every 2 s) hold what the file must keep after the kill.
        assert wait_for(lambda: _playable(out, 2 * 25, 1.0), 60, interval_s=0.5), "no 2 s of it were playable"
        product.proc.send_signal(signal.SIGKILL)
        product.proc.wait(timeout=10)
    finally:
        if product.proc.poll() is None:
            product.proc.kill()
    frames, fps, audio, rate = read_clip(out, truncated=True)
    assert fps == 25 and len(frames) >= 2 * fps, len(frames)
    assert len(audio) / rate >= 1.0


def test_record_actor_reports_itself_degraded_on_a_full_disk(bus, tmp_path):
    full = tmp_path / "full.mp4"
    full.symlink_to("/dev/full")
    origin = time.monotonic_ns()
    rec = _record(bus, Recordings(full), [_frame(i, origin) for i in range(3 * FPS)])
    degraded = [s for s in rec.of(ActorStatus) if s.state == ActorState.DEGRADED]
    assert degraded and "record-disk-full" in degraded[0].detail
    assert not [s for s in rec.of(ActorStatus) if s.state == ActorState.FAILED], "the actor goes on"


@pytest.mark.parametrize("live", [False, True], ids=["clip", "live"])
def test_the_sound_of_a_file_is_where_it_was_written(tmp_path, live):
    """A fragmented MP4 has no edit list to hide the AAC encoder's 1024 priming samples: every
    player heard a live recording's sound 43 ms late, so its lips looked early (the live run's
    AV offset of -47 to -77 ms)."""
    from runtime.hardware.media import Mp4Writer

    fps, at_s = 25, 1.0
    writer = Mp4Writer(tmp_path / "beep.mp4", width=64, height=64, fps=fps, sample_rate=RATE, threads=1, live=live)
    for index in range(2 * fps):
        writer.write_video(np.zeros((64, 64, 3), np.uint8), index)
    sound = np.zeros(2 * RATE, np.float32)
    start = int(at_s * RATE)
    sound[start:start + RATE // 50] = 0.5 * np.sin(np.arange(RATE // 50) * 2 * np.pi * 1000 / RATE)
    for part in np.array_split(sound, 7):  # written piece by piece, as the recorder does
        writer.write_audio(part)
    writer.close()
    _, _, heard, rate = read_clip(tmp_path / "beep.mp4")
    onset = np.nonzero(np.abs(heard) > 0.25)[0][0] / rate
    assert abs(onset - at_s) < 0.005, f"the beep is heard at {onset * 1000:.1f} ms, written at {at_s * 1000:.0f} ms"


_FLOOD = """
import sys, time
import numpy as np
from runtime.actors.record import RecordActor
from runtime.core.bus import Bus
from runtime.core.messages import PlaybackStarted, SpeechAudio, VideoFrame
from runtime.core.supervisor import peak_rss_mb
from runtime.speech.audio import to_int16
from runtime.store.recordings import Recordings

bus = Bus("inproc://flood-pub", "inproc://flood-sub")
bus.start()
actor = RecordActor("record", bus, recordings=Recordings(sys.argv[1]), size=512, fps=25)
actor.start()
assert actor.ready.wait(60)
pub = bus.publisher()
origin, frames = time.monotonic_ns(), int(sys.argv[2]) * 30
beep = (0.5 * np.sin(2 * np.pi * 440 * np.arange(4800) / 24000)).astype(np.float32)
with open("/proc/self/statm") as statm:
    before = int(statm.read().split()[1]) * 4096 / 2**20
for i in range(frames):  # the face's 30 fps, sent far faster than 25 fps of 512x512 can be encoded
    if i == frames // 2:
        pub.publish(SpeechAudio(pcm=to_int16(beep), spans=np.array([[0, len(beep)]], np.int32),
                                targets=np.zeros((1, 5), np.float32), sample_rate=24000))
        pub.publish(PlaybackStarted(heard_ns=origin + int(i / 30 * 1e9)))
    pub.publish(VideoFrame(rgb=np.full((512, 512, 3), i % 251, np.uint8), shown_ns=origin + int(i / 30 * 1e9)))
    time.sleep(0.001)
deadline, last = time.monotonic() + 300, (frames - 1) / 30
while actor.recorded_s < last and time.monotonic() < deadline:  # the face goes on showing its last frame
    pub.publish(VideoFrame(rgb=np.full((512, 512, 3), 7, np.uint8), shown_ns=origin + int(last * 1e9)))
    time.sleep(0.1)
actor.stop(60)
print(actor.frames_seen, round(peak_rss_mb() - before))  # its own peak, not the test runner's
"""


def test_a_recorder_that_cannot_keep_up_holds_a_few_frames_and_the_timeline(tmp_path):
    """A kiosk records for months on a box that is sometimes busy. When the encoder falls behind
    the face's 30 fps, frames (0.8 MB each at 512x512) queued on the bus: a live run peaked at
    5.4 GB (issue #26). The recorder now keeps a few frames whatever the pace, and the recording
    still lasts as long as the frames shown, with the sound where it was heard."""
    seconds = 40
    out = tmp_path / "flood.mp4"
    done = subprocess.run([sys.executable, "-c", _FLOOD, str(out), str(seconds)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    seen, growth_mb = (int(v) for v in done.stdout.split())
    assert seen > 0
    assert growth_mb < 300, f"grew by {growth_mb} MB recording {seconds} s of frames it could not encode in time"
    frames, fps, audio, rate = read_clip(out)
    assert abs(len(frames) / fps - seconds) <= 1 / fps, f"{len(frames) / fps:.2f} s of video for {seconds} s shown"
    assert abs(len(audio) / rate - seconds) < 0.05, f"{len(audio) / rate:.2f} s of sound for {seconds} s"
    loud = np.nonzero(np.abs(audio) > 0.2)[0]
    assert abs(loud[0] / rate - seconds / 2) < 0.05, "the sound is not where it was heard"
    assert abs((loud[-1] - loud[0]) / rate - 0.2) < 0.05, "the sound is not complete"
