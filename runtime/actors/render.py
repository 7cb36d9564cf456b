"""render actor: the face at display rate, following the playback clock.

It keeps the viseme track of every piece of speech; PlaybackStarted/Position tell it when each
piece's samples are heard (monotonic time), so at every tick it asks the animator for the mouth
of what is heard *now*. Each piece's emotion shows from its emotional words to its end, placed on
the same clock when the piece starts being heard (runtime.face.expression). Frames go to the window
and, when recording, onto the bus. An Interrupt returns the face to rest at once.

The conversation also sets what the face does between words: listening while the visitor speaks
(small nods), thinking from the final transcript until the first answer audio is heard (gaze up
and aside), speaking while answer audio plays, idle once the answer's last piece has played.
From the visitor's pause to the answer's first sound the face only nods or looks aside: it is drawn
at `thinking_fps` (15 of 30), and the decode of the visitor's words, the model writing the answer's
first words and the voice saying them get that CPU (on two cores the face took 10-25 % of one core
from them). A visitor who goes on (a partial transcript past the pause) is watched at the full rate
again, and lip-synced speech is drawn at the full rate from its first frame.

With a camera, the eyes and a small head turn follow the visitor (`Visitor` messages): the camera
looks out of the screen, so a visitor on the right of its picture stands at the avatar's right,
which is the left of the picture the avatar is shown in.
"""

from __future__ import annotations

import logging
import time

from runtime.core.actor import Actor
from runtime.core.errors import RuntimeFault
from runtime.core.ledger import TurnLedger
from runtime.core.messages import (
    Interrupt,
    InterruptReason,
    PlaybackFinished,
    PlaybackPosition,
    PlaybackStarted,
    RenderStats,
    SetAvatar,
    SpeechAudio,
    SpeechPaused,
    SpeechStarted,
    Transcript,
    VideoFrame,
    Visitor,
    VisitorChange,
)
from runtime.face.animator import Activity, Animator
from runtime.face.expression import mood_of
from runtime.speech.visemes import VisemeTrack

_LOGGER = logging.getLogger(__name__)


class RenderActor(Actor):
    """Draws the avatar; `display_factory` may return None (no window)."""

    subscriptions = (SpeechAudio, PlaybackStarted, PlaybackPosition, PlaybackFinished,
                     SpeechStarted, SpeechPaused, Transcript)
    controls = (Interrupt, SetAvatar, Visitor)

    def __init__(self, name: str, bus, *, face_factory, display_factory=lambda: None, fps: int = 30,
                 thinking_fps: int = 0, publish_frames: bool = False, avatar_factory=None, preview_fps: int = 0,
                 **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.tick_interval_s = 1.0 / fps
        self._thinking_every_ns = int(1e9 / min(thinking_fps or fps, fps) - 0.5e9 / fps)
        """While waiting (thinking, or the visitor paused), a frame is drawn once this long after the last
        one (a tick's half of slack)."""
        self._drawn_ns = 0
        self._paused_at: float | None = None
        """Input timeline of the visitor's latest pause (seconds) while they have not gone on, else None."""
        self._face_factory, self._display_factory = face_factory, display_factory
        self._avatar_factory = avatar_factory
        """avatar name -> renderer, for avatars switched at run time (None: the avatar is fixed)."""
        self.publish_frames = publish_frames
        self._preview_every = max(1, round(fps / preview_fps)) if preview_fps else 0
        """Without a recording, publish every n-th frame for the remote preview (0: none)."""
        self._frames = 0
        self._span: tuple[int, int, float] | None = None
        """The stats span: its first frame's time, frames since, the slowest frame (ms)."""
        self._thinking = (0, 0.0)
        """Of the stats span: frames drawn while thinking, and the seconds spent thinking."""
        self.animator = Animator()
        self._tracks: dict[tuple[int, int, int], VisemeTrack] = {}
        self._moods: dict[tuple[int, int, int], tuple[str, str, float]] = {}
        """Per piece not yet heard: its text, emotion and intensity (shown once it is heard)."""
        self.ledger = TurnLedger(newest=self.turn)
        """Which pieces of the answer are still to be played, and whether its last one was made."""
        self._question_turn = -1
        """Turn of the last final transcript (its Interrupt may be handled after it)."""
        self.face = self.display = None

    def setup(self) -> None:
        """Load the avatar and open the window (if any). OpenCV draws on one core: its thread pool
        would spread each frame's warp over both cores of a small box, stalling both of the LLM's
        threads at every frame instead of one."""
        import cv2

        cv2.setNumThreads(1)
        self.face = self._face_factory()
        self.display = self._display_factory()
        _LOGGER.info("face: %s", f"window ({self.display.driver})" if self.display else "no window")

    def teardown(self) -> None:
        """Close the window."""
        if self.display is not None:
            self.display.close()

    def handle(self, msg) -> None:
        """Keep tracks; follow the playback clock; take the answer's emotion and the activity."""
        self.ledger.note(msg)
        if isinstance(msg, SpeechAudio):
            key = (msg.turn, msg.index, msg.part)
            if not msg.last:
                self._tracks[key] = VisemeTrack(msg.sample_rate, msg.spans, msg.targets, msg.visemes)
                self._moods[key] = (msg.text, msg.emotion, msg.intensity)
        elif isinstance(msg, (PlaybackStarted, PlaybackPosition)):
            track = self._tracks.get((msg.turn, msg.index, msg.part))
            if track is not None:
                sample = getattr(msg, "sample", 0)
                start = msg.heard_ns / 1e9 - sample / track.sample_rate
                self.animator.speak(track, start)
                self.animator.set_activity(Activity.SPEAKING)
                text, emotion, intensity = self._moods.pop((msg.turn, msg.index, msg.part), ("", "neutral", 0.0))
                mood = mood_of(text, emotion, intensity, track, start)
                if mood is not None:
                    self.animator.feel(mood.emotion, mood.amount, mood.on_s, mood.off_s)
        elif isinstance(msg, PlaybackFinished):
            self._tracks.pop((msg.turn, msg.index, msg.part), None)
            self._moods.pop((msg.turn, msg.index, msg.part), None)
            if self.ledger.said(msg.turn):
                self.animator.set_activity(Activity.IDLE)
        elif isinstance(msg, SpeechStarted):
            self._paused_at = None
            self.animator.set_activity(Activity.LISTENING)
        elif isinstance(msg, SpeechPaused):
            self._paused_at = msg.heard_s
        elif isinstance(msg, Transcript) and not msg.final and not msg.speculative:
            if self._paused_at is not None and msg.end_s > self._paused_at:
                self._paused_at = None  # the visitor went on
        elif isinstance(msg, Transcript) and msg.final and msg.text.strip():
            # An answer prepared ahead (speculation) may be synthesized already: keep its pieces.
            self.ledger.forget_other_answers(msg.turn)
            self._question_turn = msg.turn
            self.animator.set_activity(Activity.THINKING)
        elif isinstance(msg, Transcript) and msg.final and msg.turn == self.turn:  # heard no words
            self.animator.set_activity(Activity.IDLE)

    def on_interrupt(self, msg: Interrupt) -> None:
        """Back to rest: the old answer is no longer heard (a barge-in: the visitor is speaking)."""
        self._paused_at = None
        self.animator.speak(None, 0.0)
        self.animator.feel("neutral", 0.0)
        if msg.reason in (InterruptReason.BARGE_IN, InterruptReason.SPECULATION):  # the visitor is speaking
            self.animator.set_activity(Activity.LISTENING)
        elif self._question_turn < msg.turn:
            self.animator.set_activity(Activity.IDLE)
        self._tracks = {k: v for k, v in self._tracks.items() if k[0] >= msg.turn}
        self._moods = {k: v for k, v in self._moods.items() if k[0] >= msg.turn}
        self.ledger.interrupt(msg)

    def on_control(self, msg) -> None:
        """Look at the visitor; show another avatar from the next frame on (one that fails to load
        keeps the current face)."""
        if isinstance(msg, Visitor):
            self.animator.attend(None if msg.change == VisitorChange.LEFT else -msg.x, msg.y)
            return
        if not isinstance(msg, SetAvatar) or self._avatar_factory is None:
            return
        try:
            self.face = self._avatar_factory(msg.avatar)
        except RuntimeFault as fault:
            _LOGGER.warning("avatar %s not shown, keeping the current one: %s", msg.avatar, fault)
            return
        _LOGGER.info("avatar: %s", msg.avatar)

    def tick(self) -> None:
        """Draw the frame for now (while waiting for the answer, every other one)."""
        started = time.perf_counter()
        now_ns = time.monotonic_ns()
        activity = self.animator.activity
        if activity == Activity.THINKING or (activity == Activity.LISTENING and self._paused_at is not None):
            frames, seconds = self._thinking
            self._thinking = (frames, seconds + self.tick_interval_s)
            if now_ns - self._drawn_ns < self._thinking_every_ns:
                return
            self._thinking = (frames + 1, seconds + self.tick_interval_s)
        self._drawn_ns = now_ns
        frame = self.face.render(self.animator.params(now_ns / 1e9))
        if self.display is not None:
            self.display.show(frame)
        render_ms = (time.perf_counter() - started) * 1000
        self._frames += 1
        self._count(now_ns, render_ms)
        if self.publish_frames or (self._preview_every and self._frames % self._preview_every == 0):
            self.publish(VideoFrame(turn=self.turn, rgb=frame, shown_ns=now_ns, render_ms=render_ms))

    def _count(self, now_ns: int, render_ms: float) -> None:
        """Publish RenderStats about once a second (frames shown, slowest drawing)."""
        if self._span is None:
            self._span = (now_ns, 0, 0.0)
        first, frames, slowest = self._span
        if now_ns - first >= 1_000_000_000 and frames:
            thinking_frames, thinking_s = self._thinking
            self.publish(RenderStats(frames=frames, span_s=(now_ns - first) / 1e9, render_ms_max=round(slowest, 2),
                                     thinking_frames=thinking_frames, thinking_s=round(thinking_s, 3)))
            first, frames, slowest = now_ns, 0, 0.0
            self._thinking = (0, 0.0)
        self._span = (first, frames + 1, max(slowest, render_ms))
