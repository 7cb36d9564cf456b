"""Every bus message type and its topic; nothing else lives here.

A message is a frozen dataclass. Fields marked with ``PAYLOAD`` travel as raw frames after the
header (PCM, pixels), never inside it. Every message carries ``turn`` (the conversation epoch:
data of an older turn is stale once an ``Interrupt`` raised it) and ``t_ns`` (monotonic clock
when it was made). Topics are exact: no topic is a prefix of another (a test checks this),
so a subscription to one topic never receives another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from runtime.core.compat import StrEnum
from runtime.core.rates import SAMPLE_RATE, VOICE_RATE

PAYLOAD = {"payload": True}
"""Field metadata: send this field (numpy array or bytes) as a raw frame."""

REGISTRY: dict[str, type[Message]] = {}
"""Topic -> message class; the codec's only lookup table."""


def register(topic: str, *, control: bool = False):
    """Class decorator: give a message class its topic and add it to the registry."""

    def wrap(cls: type[Message]) -> type[Message]:
        if topic in REGISTRY:
            raise ValueError(f"topic {topic!r} registered twice")
        cls.TOPIC = topic
        cls.CONTROL = control
        REGISTRY[topic] = cls
        return cls

    return wrap


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of all bus messages."""

    TOPIC: ClassVar[str] = ""
    CONTROL: ClassVar[bool] = False
    """Control messages go to an actor's control socket, which is read before data."""
    QUEUE: ClassVar[int] = 0
    """How many of these may wait for one subscriber (0: the bus's high-water mark). Bulky
    messages keep only a few: a subscriber short of CPU skips them instead of holding them."""

    turn: int = 0
    """Conversation epoch this message belongs to."""
    t_ns: int = field(default_factory=time.monotonic_ns)
    """Monotonic clock when the message was made (nanoseconds)."""


class ActorState(StrEnum):
    """Lifecycle states an actor reports."""

    STARTING = "starting"
    READY = "ready"
    DEGRADED = "degraded"
    """Running with less than configured (detail: the fault)."""
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class InterruptReason(StrEnum):
    """Why a turn changed (Interrupt.reason)."""

    SPEECH = "speech"
    """The visitor began to speak."""
    BARGE_IN = "barge-in"
    """... over the avatar."""
    SPECULATION = "speculation"
    """The visitor's utterance goes on as this turn: an answer prepared for its first words is void."""
    NEW_INPUT = "new-input"
    """Typed or file input."""
    OPERATOR = "operator"
    """An operator's command (say, interrupt)."""
    VISITOR = "visitor"
    """A visitor approached and is greeted."""


# --- control ----------------------------------------------------------------------------------


@register("ctl.interrupt", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class Interrupt(Message):
    """Start a new turn: every actor drops work and data of older turns (barge-in)."""

    reason: InterruptReason = InterruptReason.OPERATOR
    """Why the turn changed."""
    resumes: int = -1
    """With `speculation` after an endpoint: the turn whose utterance this one goes on with; its
    answer is void and forgotten (-1: none)."""


@register("ctl.persona", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetPersona(Message):
    """Switch the active persona (from the operator, MQTT or the API)."""

    persona: str
    """A key of [personas] in the config."""


@register("ctl.put-persona", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class PutPersona(Message):
    """Add, change or (with empty persona_json) remove a persona at run time."""

    persona: str
    """The persona id (a key of [personas])."""
    persona_json: str = ""
    """The persona's [personas.<id>] section as JSON (validated by the config schema); "" removes it."""


@register("ctl.avatar", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetAvatar(Message):
    """Show another enrolled avatar."""

    avatar: str
    """An avatar name (`edge-talker avatar list`)."""


@register("ctl.voice", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetVoice(Message):
    """Speak with another voice from the next sentence on."""

    voice: str
    """A model id of the manifest (role tts) or a voice file, as [speak] voice."""


@register("ctl.volume", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetVolume(Message):
    """Change the speaker's loudness at once."""

    level: float
    """Loudness multiplier, 0..1 from operators ([play] volume allows up to 4)."""


@register("ctl.mute", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetMute(Message):
    """Silence the speaker (the face still speaks) or unmute it."""

    on: bool


@register("op.say")
@dataclass(frozen=True, slots=True, kw_only=True)
class Say(Message):
    """An operator's text for the avatar to say now, with the face (sent after an Interrupt that
    starts its turn; the think actor cuts it into chunks and tags their emotion)."""

    text: str
    language: str = ""
    """ISO 639-1 code of the text, empty when unknown."""


# --- system -----------------------------------------------------------------------------------


@register("sys.heartbeat")
@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Message):
    """An actor is alive and its loop is turning."""

    actor: str
    seq: int
    """Counts up from 0 for each actor instance."""


@register("sys.actor")
@dataclass(frozen=True, slots=True, kw_only=True)
class ActorStatus(Message):
    """An actor changed lifecycle state (for health reporting)."""

    actor: str
    state: ActorState
    detail: str = ""


@register("sys.process")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStats(Message):
    """The process's health, from the supervisor every second (benches, soak, fleet state)."""

    rss_mb: float
    """Resident memory now (MiB)."""
    peak_rss_mb: float
    """Highest resident memory so far (MiB)."""
    threads: int
    """Python threads alive."""
    fds: int
    """Open file descriptors (-1 when unknown)."""
    cpu_s: float
    """CPU time used so far, user + system (seconds)."""
    ready: bool = True
    """False in the last report, sent while stopping."""


@register("sys.config")
@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigApplied(Message):
    """The device's configuration changed (from the fleet or the API)."""

    version: str
    """The version the operator gave the applied config ("" for a single setting changed)."""
    restart: bool = False
    """True when the change needs the process to restart (it exits so systemd restarts it)."""


class VisitorChange(StrEnum):
    """What the camera saw the visitor do (Visitor.change)."""

    APPROACH = "approach"
    """A face came close enough to talk: a new visitor."""
    PRESENT = "present"
    """The visitor is still there (sent with each analysed frame that shows them)."""
    LEFT = "left"
    """No face close enough for [presence] leave_s: the visitor has gone."""


@register("presence.visitor", control=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class Visitor(Message):
    """The visitor in front of the kiosk: where and how near, nothing else (no image, no identity)."""

    change: VisitorChange
    x: float = 0.0
    """Face centre across the camera's picture, -1 (left edge) .. 1 (right edge), as if not mirrored."""
    y: float = 0.0
    """Face centre down the picture, -1 (top) .. 1 (bottom)."""
    distance: str = ""
    """`far`, `near` or `close` (face size against [presence] thresholds); "" once left."""


# --- input ------------------------------------------------------------------------------------


@register("audio.in")
@dataclass(frozen=True, slots=True, kw_only=True)
class AudioFrame(Message):
    """A block of captured audio: mono int16 PCM."""

    pcm: np.ndarray = field(metadata=PAYLOAD)
    """Samples, int16, shape (n,)."""
    sample_rate: int = SAMPLE_RATE
    """Sample rate (hertz)."""
    offset_samples: int = 0
    """Index of the first sample on the input timeline (0 = first captured sample)."""


@register("input.ended")
@dataclass(frozen=True, slots=True, kw_only=True)
class InputEnded(Message):
    """The input source has no more data (end of file, console closed)."""

    source: str
    """`console`, `file` or `microphone`."""


@register("hear.speech-started")
@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(Message):
    """The visitor started speaking (the barge-in signal); sent at once, before any transcript."""

    start_s: float
    """Estimated speech onset on the input timeline (seconds)."""
    during_playback: bool = False
    """True when the avatar was speaking: this is a barge-in."""


@register("hear.speech-paused")
@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechPaused(Message):
    """The visitor paused: their words so far are being decoded. Work that can wait (reading their
    words into the model ahead) waits for the transcript: on two cores it took the decode's CPU."""

    heard_s: float
    """Input timeline heard at the pause (seconds): a partial transcript that reaches past it
    means the visitor went on."""


@register("hear.transcript")
@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(Message):
    """What the visitor said (or typed): a partial or the final text of an utterance.

    A speculative transcript (final=False, speculative=True) is the decode at a pause before the
    endpoint: the answer is prepared for it ahead, and its audio is held until the final of the
    same turn commits it (a discarded one is cancelled by an Interrupt, reason `speculation`)."""

    text: str
    final: bool = True
    speculative: bool = False
    """The words so far at a pause: answer ahead, play only once the final of this turn arrives."""
    language: str = ""
    """ISO 639-1 code, empty when unknown."""
    source: str = "asr"
    """`asr` for speech, `console` for typed input."""
    start_s: float = 0.0
    """Utterance start on the input timeline (seconds)."""
    end_s: float = 0.0
    """Utterance end on the input timeline (seconds)."""
    latency_ms: float = 0.0
    """Endpoint -> this transcript (milliseconds)."""
    silence_ms: float = 0.0
    """The silence after the speech that made the endpoint (milliseconds): the visitor stopped
    speaking silence_ms + latency_ms before this transcript."""


# --- answer -----------------------------------------------------------------------------------


@register("think.chunk")
@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyChunk(Message):
    """One speakable piece of the answer, in order."""

    text: str
    index: int = 0
    """Position of this chunk in the answer, from 0."""
    last: bool = False
    """True on the answer's final chunk (which may be empty text)."""
    emotion: str = "neutral"
    intensity: float = 0.0
    """Strength of the emotion, 0..1."""
    persona: str = ""
    """The persona answering (its pinned voices read the chunk); empty: the configured voices."""
    language: str = ""
    """The answer's language: a sentence written in no script ("0123456789") is read in it when no
    neighbour says which (a Mandarin visitor heard their number read back in English); empty: English."""


@register("think.safety")
@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyEvent(Message):
    """The visitor said something that needs staff (a lost child, an emergency, feeling unwell):
    the avatar gave the persona's fixed response instead of a model's answer."""

    category: str
    """`lost_child`, `emergency` or `unwell` (runtime.dialogue.safety.SafetyCategory)."""
    language: str
    """Language of the visitor's words (ISO 639-1)."""
    persona: str = ""
    """The persona that responded."""
    response: str = ""
    """The fixed response the avatar gave (the visitor's own words are never sent)."""


@register("speak.audio")
@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechAudio(Message):
    """Synthesized speech of (part of) an answer chunk with its viseme track, sample-exact."""

    pcm: np.ndarray = field(metadata=PAYLOAD)
    """Samples, int16 mono, shape (n,)."""
    spans: np.ndarray = field(metadata=PAYLOAD)
    """Viseme entries: int32 (k, 2) = start sample, length in samples; lengths add up to n."""
    targets: np.ndarray = field(metadata=PAYLOAD)
    """Mouth targets per entry: float32 (k, 5), see runtime.speech.visemes.TARGET_NAMES."""
    visemes: tuple[str, ...] = ()
    """Viseme class per entry (`~` when derived from audio)."""
    sample_rate: int = VOICE_RATE
    """Sample rate (hertz)."""
    index: int = 0
    """Chunk index within the answer (ReplyChunk.index)."""
    part: int = 0
    """Sentence within the chunk, from 0."""
    text: str = ""
    emotion: str = "neutral"
    intensity: float = 0.0
    last: bool = False
    """End of the answer: no more audio for this turn (pcm is empty)."""


# --- playback ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _PlaybackEvent(Message):
    """Something the speaker did with one piece of speech (chunk `index`, sentence `part`)."""

    index: int = 0
    """Chunk index within the answer."""
    part: int = 0
    """Sentence within the chunk."""
    heard_ns: int = 0
    """Monotonic time the event is heard at the speaker (DAC time; nanoseconds)."""


@register("play.started")
@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(_PlaybackEvent):
    """The speaker started playing a piece of the answer (heard_ns: its first sample)."""


@register("play.position")
@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackPosition(_PlaybackEvent):
    """The playback clock: `sample` of the piece is heard at `heard_ns`."""

    sample: int = 0
    """Sample of the piece, at the piece's own rate."""


@register("play.finished")
@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(_PlaybackEvent):
    """The speaker played a piece to its end, or stopped it (interrupted=True; heard_ns: its
    last played sample)."""

    interrupted: bool = False


@register("play.reference")
@dataclass(frozen=True, slots=True, kw_only=True)
class EchoReference(Message):
    """What the speaker plays, for the microphone's echo canceller: a block of the speaker's output
    (resampled to 16 kHz) and when its first sample is heard."""

    pcm: np.ndarray = field(metadata=PAYLOAD)
    """Samples, int16 mono, shape (n,)."""
    sample_rate: int = SAMPLE_RATE
    """Sample rate (hertz)."""
    offset_samples: int = 0
    """Index of the first sample on the speaker's timeline (its output since it opened, at sample_rate)."""
    heard_ns: int = 0
    """Monotonic time the first sample is heard at the speaker (DAC time; nanoseconds)."""


@register("render.frame")
@dataclass(frozen=True, slots=True, kw_only=True)
class VideoFrame(Message):
    """A rendered frame of the face, as shown at monotonic time shown_ns."""

    QUEUE: ClassVar[int] = 2
    """0.8 MB each at 512x512: a recorder at a lower priority on a busy box held 400 MB of them
    (1,000 per socket at the bus's high-water mark); a few newest frames are all it can use."""

    rgb: np.ndarray = field(metadata=PAYLOAD)
    """uint8 (h, w, 3)."""
    shown_ns: int = 0
    render_ms: float = 0.0
    """Time it took to animate and draw this frame (milliseconds)."""


@register("render.stats")
@dataclass(frozen=True, slots=True, kw_only=True)
class RenderStats(Message):
    """The face's drawing over the last second or so, from the render actor (benches, fleet)."""

    frames: int
    """Frames drawn and shown in the span."""
    span_s: float
    """From the first of them to the first frame after the span (seconds)."""
    render_ms_max: float = 0.0
    """The slowest frame's drawing time (milliseconds)."""
    thinking_frames: int = 0
    """Of the frames, those drawn while the avatar thought (at the display's thinking_fps)."""
    thinking_s: float = 0.0
    """Of the span, the seconds the avatar thought."""


def payload_fields(cls: type[Message]) -> tuple[str, ...]:
    """Names of the fields that travel as raw frames."""
    return tuple(f.name for f in cls.__dataclass_fields__.values() if f.metadata.get("payload"))
