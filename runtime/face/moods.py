"""What emotions and conversational activities do to the face (renderer parameter offsets).

Emotions come with the answer (runtime.dialogue.emotion tags each sentence); activities come from the
conversation: the render actor tells the animator when the visitor speaks (listening), when the
answer is being prepared (thinking), when the avatar speaks, and when nothing happens (idle).
"""

from __future__ import annotations

from runtime.core.compat import StrEnum
from runtime.dialogue.emotion import Emotion


class Activity(StrEnum):
    """What the avatar is doing in the conversation."""

    IDLE = "idle"
    LISTENING = "listening"
    """The visitor speaks: eyes on the visitor, brows a little up, small nods now and then."""
    THINKING = "thinking"
    """The answer is being prepared: the gaze goes up and aside, brows knit a little, lips press."""
    SPEAKING = "speaking"


EMOTIONS: dict[Emotion, dict[str, float]] = {
    Emotion.NEUTRAL: {},
    # Joy (Duchenne smile): corners up and out, cheeks lift and push the lower lids up (smiling
    # eyes); the upper lids stay where they are, so the eyes stay open and keep their own texture.
    Emotion.HAPPY: {"smile": 1.0, "cheek_raise": 1.2, "brow_raise": 0.15},
    # Sadness: inner brow ends up, corners down, head and gaze a little down.
    Emotion.SAD: {"brow_inner": 0.9, "smile": -0.35, "head_pitch": 0.035, "gaze_y": 0.35, "lip_press": 0.1},
    Emotion.SURPRISED: {"brow_raise": 1.0, "jaw_open": 0.15, "head_pitch": -0.015},
    Emotion.ANGRY: {"brow_furrow": 1.0, "lip_press": 0.35, "cheek_raise": 0.15},
    # Sympathy: soft (inner-raised) brows, head tilted down and a little to the side.
    Emotion.CONCERNED: {"brow_inner": 0.8, "brow_furrow": 0.1, "smile": -0.1, "head_pitch": 0.03,
                  "head_roll": 0.015},
}
"""Parameter offsets of each emotion at intensity 1 (see runtime.face.rig for the ranges)."""

BLINK_PACE: dict[Emotion, float] = {Emotion.SAD: 1.6, Emotion.CONCERNED: 1.5, Emotion.SURPRISED: 1.3}
"""Emotions that slow blinking: pauses between blinks (and the blinks themselves) last this much longer."""
LISTENING_BLINK_PACE = 0.6
"""A listener blinks more often: pauses between blinks are this much as long."""

ACTIVITIES: dict[Activity, dict[str, float]] = {
    Activity.IDLE: {},
    Activity.LISTENING: {"brow_raise": 0.12},
    Activity.THINKING: {"brow_furrow": 0.2, "lip_press": 0.2, "head_pitch": -0.012},
    Activity.SPEAKING: {},
}
"""Steady parameter offsets of each activity (nods and the thinking gaze are added by the animator)."""
