"""The schema's plain sections: one pydantic model per table, each field with its unit and range."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, StrictBool, model_validator

from runtime.core.section import Section
from runtime.dialogue.safety import SafetyCategory
from runtime.speech.language import LANGUAGES


class CaptureSource(Section):
    """A [capture] backend; SOURCE names the actor class that reads it."""

    SOURCE: ClassVar[str] = ""
    """`module:Class` of the capture actor; the class has `from_config(name, bus, section, **kw)`."""

    def describe(self) -> str:
        """Where the visitor's words come from, for the start-up banner."""
        return self.type


class BusConfig(Section):
    """[bus] ZeroMQ endpoints of the forwarder every actor publishes through."""

    pub_endpoint: str = Field(
        "inproc://edge-talker-pub", title="Publish endpoint",
        description="Where actors publish (the forwarder binds XSUB here): inproc://, ipc:// or tcp://.")
    sub_endpoint: str = Field(
        "inproc://edge-talker-sub", title="Subscribe endpoint",
        description="Where actors subscribe (the forwarder binds XPUB here).")
    hwm: int = Field(1000, ge=1, le=100_000, title="High-water mark",
                     description="Messages queued per socket before the newest are dropped.")
    heartbeat_s: float = Field(1.0, gt=0, le=60, description="Heartbeat interval per actor (seconds).")

    @model_validator(mode="after")
    def _endpoints(self) -> BusConfig:
        for key in ("pub_endpoint", "sub_endpoint"):
            value = getattr(self, key)
            if not value.startswith(("inproc://", "ipc://", "tcp://")):
                raise ValueError(f"{key} {value!r} must start with inproc://, ipc:// or tcp://")
        if self.pub_endpoint == self.sub_endpoint:
            raise ValueError("pub_endpoint and sub_endpoint must differ")
        return self


class _Heard(CaptureSource):
    """What a source that may be a microphone (auto, microphone) shares: echo cancellation."""

    echo_cancel: StrictBool = Field(True,
        description="Take what the speaker plays out of the microphone's audio before listening hears it "
                    "(WebRTC's echo canceller), so the avatar never barges in on itself and a visitor is heard "
                    "over it at once. true or false; without its library the microphone goes on uncancelled "
                    "and the capture actor reports capture-echo-cancel-missing.")


class AutoCapture(_Heard):
    """[capture] type = "auto": the default microphone when there is one, else typed lines (the
    composition root decides at start, see runtime.factories.resolve_capture)."""

    type: Literal["auto"] = "auto"


class ConsoleCapture(CaptureSource):
    """[capture] type = "console": typed lines are the visitor's words."""

    SOURCE: ClassVar[str] = "runtime.actors.capture:ConsoleSource"
    type: Literal["console"]

    def describe(self) -> str:
        """The banner line."""
        return "console - type what the visitor says and press Enter (Ctrl-D ends input, Ctrl-C quits)"


class FileCapture(CaptureSource):
    """[capture] type = "file": an audio file (WAV/FLAC/OGG) is what the visitor says."""

    SOURCE: ClassVar[str] = "runtime.actors.capture:FileSource"
    type: Literal["file"]
    path: str = Field(min_length=1, description="Audio file to play into the pipeline.")
    speed: float = Field(1.0, ge=0, le=50,
        description="Pacing: 1 = real time, 2 = twice as fast, 0 = as fast as possible (at most 50x).")
    tail_silence_s: float = Field(1.0, ge=0, le=10,
        description="Silence added after the file so its last utterance ends (seconds).")

    def describe(self) -> str:
        """The banner line."""
        return f"audio file {self.path} ({self.speed:g}x)"


class BusCapture(CaptureSource):
    """[capture] type = "bus": another process publishes the visitor's audio on the bus (AudioFrame,
    16 kHz int16, then InputEnded): the e2e bench's live visitor, or a microphone elsewhere; the
    bus endpoints must then be tcp:// or ipc://."""

    type: Literal["bus"]

    def describe(self) -> str:
        """The banner line."""
        return "audio published on the bus by another process"


class MicrophoneCapture(_Heard):
    """[capture] type = "microphone": a sound input device."""

    SOURCE: ClassVar[str] = "runtime.actors.capture:MicrophoneSource"
    type: Literal["microphone"]
    device: str = Field("", description="Device name fragment or index; empty for the system default.")
    device_rate: int = Field(0, ge=0, le=384_000,
        description="Rate to open the device at (hertz); 0 = the device's default. Resampled to 16 kHz.")

    def describe(self) -> str:
        """The banner line."""
        return f"microphone {self.device or '(system default)'} - speak to the kiosk"


class ListenConfig(Section):
    """[listen] voice activity detection, endpointing, partials and the self-echo policy."""

    language: Literal["auto", "en", "zh"] = Field("auto", description="Language spoken to the kiosk.")
    threshold: float = Field(0.5, gt=0, lt=1, description="Silero speech probability that counts as speech.")
    min_speech_s: float = Field(0.25, gt=0, le=2, description="Speech needed before an utterance starts (seconds).")
    min_silence_s: float = Field(0.45, gt=0, le=5,
        description="Silence that ends an utterance when its words do not say whether it is finished (seconds).")
    endpoint_complete_s: float = Field(0.3, gt=0, le=5,
        description="Silence that ends an utterance that sounds finished: a question (seconds).")
    endpoint_incomplete_s: float = Field(1.0, gt=0, le=5,
        description='Silence that ends an utterance that asks for more: "and", "um", "那个", a trailing comma '
                    "(seconds).")
    endpoint_unfinished_s: float = Field(0.45, gt=0, le=5,
        description="Silence that ends an utterance the turn model twice hears as unfinished (seconds; never less "
                    "than min_silence_s). 1.2 holds a breath in the middle of a sentence, but the model is right "
                    "about half the time here, and then finished questions wait too.")
    turn_model: bool = Field(True,
        description="Let the turn model (Smart Turn v3.2, model turn-smart-v3.2) judge from the audio, with the "
                    "words, whether the visitor has finished; without its file the words decide alone.")
    turn_threshold: float = Field(0.5, gt=0, lt=1,
        description="The turn model's probability of a finished turn at or above which it counts as finished.")
    max_utterance_s: float = Field(15.0, ge=2, le=60, description="Longer speech is cut here (seconds).")
    resume_s: float = Field(0.8, ge=0, le=3,
        description="A visitor who speaks again within this long after an utterance ended goes on with it: "
                    "its answer is cancelled and the whole is answered once, as one turn (seconds; 0 = off).")
    pause_s: float = Field(0.12, gt=0, le=2,
        description="A pause this long ends a phrase: what was said so far is decoded at once (seconds).")
    speculate: bool = Field(True,
        description="Answer ahead at a pause: the answer is prepared before the endpoint and played at the "
                    "endpoint when the final words are the same; cancelled when the visitor goes on.")
    partial_interval_s: float = Field(0.6, gt=0, le=5,
        description="Time between partial transcripts (seconds); at least as long as the last one took to decode, "
                    "so on a slow machine the decoder is less often busy when the visitor stops.")
    barge_in_threshold: float = Field(0.6, gt=0, lt=1,
        description="While the avatar speaks: speech probability needed to count as the visitor.")
    barge_in_min_speech_s: float = Field(0.08, gt=0, le=2,
        description="While the avatar speaks: how long the voice must be at barge_in_min_dbfs to count "
                    "as a barge-in, once Silero scores a window at barge_in_threshold (seconds).")
    barge_in_min_dbfs: float = Field(-35.0, ge=-90, le=0,
        description="While the avatar speaks: level the visitor's speech must reach (dBFS).")
    barge_in_echo_margin_db: float = Field(0.0, ge=0, le=40,
        description="While the avatar speaks: how much louder than the loudest 80 ms heard in the 2.5 s before "
                    "(the echo of its own voice) the visitor's speech must be (dB); 0 = off. For a speaker loud in "
                    "the microphone; a visitor who already talks when the avatar starts must then be louder still.")
    echo_tail_s: float = Field(0.3, ge=0, le=3,
        description="The echo policy stays on this long after playback ends (seconds).")

    @model_validator(mode="after")
    def _pauses_in_order(self) -> ListenConfig:
        if not self.pause_s <= self.endpoint_complete_s <= self.min_silence_s <= self.endpoint_incomplete_s:
            raise ValueError(f"need pause_s ({self.pause_s:g}) <= endpoint_complete_s ({self.endpoint_complete_s:g}) "
                             f"<= min_silence_s ({self.min_silence_s:g}) <= endpoint_incomplete_s "
                             f"({self.endpoint_incomplete_s:g})")
        return self


class AvatarConfig(Section):
    """[avatar] the face: which avatar to show and how photos are enrolled."""

    name: str = Field("default",
        description="Avatar to show (`edge-talker avatar list`); default = the bundled portrait.")
    resolution: int = Field(512, ge=128, le=2048, description="Side of the aligned portrait (pixels).")
    min_face_px: int = Field(128, ge=32, le=4096,
        description="Smallest head (1.5 x the detected face box) to enroll (pixels).")
    several_faces: Literal["largest", "refuse"] = Field("largest",
        description="A photo with several faces: enroll the largest (with a warning) or refuse it.")
    keep_original: bool = Field(False, description="Keep the original photo in the bundle (off: privacy).")


class PlayConfig(Section):
    """[play] the speaker."""

    device: str = Field("", description='Output device name fragment or index; "" = default; "none" = no speaker '
                                       "(the playback clock still runs, silently).")
    volume: float = Field(1.0, ge=0, le=4, description="Loudness multiplier.")
    mute: bool = Field(False, description="Play silence (the face still speaks).")


class DisplayConfig(Section):
    """[display] the window on the attached screen."""

    window: Literal["auto", "on", "off"] = Field("auto",
        description="auto = a window when a display exists; on = required; off = never.")
    fullscreen: bool = Field(False, description="Fill the screen.")
    hide_cursor: bool = Field(False, description="Kiosk mode: no mouse pointer.")
    fps: int = Field(30, ge=5, le=120, description="Frames drawn per second.")
    thinking_fps: int = Field(15, ge=5, le=120,
        description="Frames drawn per second while the avatar waits for its answer (from the visitor's pause to "
                    "the answer's first sound: the face only nods or looks aside), so the decode, the model and the "
                    "voice get the CPU; at most fps. Not while recording.")


class CameraConfig(Section):
    """[camera] a camera for presence (off by default): frames are analysed in memory and never stored,
    sent or logged."""

    enabled: bool = Field(False, description="Watch for visitors with a camera (see [presence]).")
    source: str = Field("0", min_length=1, max_length=4096,
        description='OpenCV source: a device index ("0"), a device path ("/dev/video0"), a GStreamer pipeline '
                    '(ending in "appsink"), or a video file (tests and demos; played in real time).')
    fps: float = Field(5.0, ge=1, le=15, description="Frames analysed per second.")
    width: int = Field(640, ge=64, le=4096, description="Requested capture width (pixels; a device may pick another).")
    height: int = Field(480, ge=48, le=4096, description="Requested capture height (pixels).")
    mirrored: bool = Field(False, description="The camera delivers a mirror image (some webcams do).")


class PresenceConfig(Section):
    """[presence] who stands in front of the kiosk (needs [camera] enabled): approach, present, leaving."""

    approach_size: float = Field(0.16, gt=0, lt=1,
        description="A face this tall (fraction of the picture's height) or taller is close enough to talk.")
    approach_frames: int = Field(3, ge=1, le=50,
        description="... for this many analysed frames in a row before it counts as an approach.")
    leave_s: float = Field(3.0, ge=0.5, le=600,
        description="The visitor has left when no face was close enough for this long (seconds).")
    close_size: float = Field(0.35, gt=0, le=1,
        description='A face this tall or taller is "close" (else "near" above approach_size, "far" below).')
    min_score: float = Field(0.6, gt=0, lt=1, description="Detector score a face needs.")
    frontal: float = Field(0.5, gt=0, le=1,
        description="How far the nose may sit off the middle of the eyes (eye distances) for a face that looks "
                    "at the kiosk.")
    greet: bool = Field(True, description="Say the persona's greeting when a visitor approaches.")
    language: Literal["", "en", "zh"] = Field("",
        description='Language of that greeting: "" = the persona\'s language, else [listen] language, else en.')
    require_presence: bool = Field(False,
        description="Hear speech only while a visitor is present (ignores background talk).")

    @model_validator(mode="after")
    def _sizes(self) -> PresenceConfig:
        if self.close_size <= self.approach_size:
            raise ValueError("[presence] close_size must exceed approach_size")
        return self


class RecordConfig(Section):
    """[record] MP4 files of what the visitor sees and hears; off unless configured (privacy)."""

    path: str = Field("", description='One recording: this MP4 file, continued in name-2.mp4, ... when it rotates; '
                                      '"" = none.')
    directory: str = Field("", description='Rotating recordings: time-stamped MP4 files in this directory; "" = none.')
    demo: bool = Field(True, description="At a terminal with no window, no recording configured and not as a service, "
                                         "keep a few short demo clips in the state directory (3 x 2 min).")
    fps: int = Field(25, ge=5, le=60, description="Video frame rate of the recording.")
    include_input: bool = Field(False,
        description="Also record the visitor's input audio (right channel). Off by default for privacy.")
    segment_s: float = Field(600.0, ge=10, le=86400, description="A new file after this long (seconds).")
    max_file_mb: float = Field(500.0, ge=1, le=100000, description="... or this big (MB).")
    keep_files: int = Field(20, ge=1, le=100000, description="Oldest recordings beyond this many are deleted.")
    keep_mb: float = Field(5000.0, ge=10, le=10000000, description="... or beyond this much disk (MB).")

    @model_validator(mode="after")
    def _one_target(self) -> RecordConfig:
        if self.path and self.directory:
            raise ValueError("set [record] path or directory, not both")
        if self.keep_mb < self.max_file_mb:
            raise ValueError("[record] keep_mb must be at least max_file_mb")
        return self


class CaptionConfig(Section):
    """[caption] subtitles of the conversation on the terminal."""

    enabled: bool = Field(True, description="Print what the visitor said and what the avatar answers.")


class LogConfig(Section):
    """[log] logging."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")


class PathsConfig(Section):
    """[paths] where models and state live; empty means the environment decides (see README)."""

    models: str = Field("",
        description="Model store; empty: $EDGE_TALKER_MODELS, $STATE_DIRECTORY/models or ~/.cache/edge-talker/models.")
    state: str = Field("",
        description="App state (avatars); empty: $EDGE_TALKER_STATE, $STATE_DIRECTORY or ~/.local/share/edge-talker.")


class VoiceConfig(Section):
    """[voice] enrolling a person's voice from a sample (`edge-talker voice enroll`)."""

    keep_sample: bool = Field(False,
        description="Keep the sample in the voice's folder (privacy: off, only the matched style is stored).")
    enroll_s: float = Field(55.0, ge=1, le=600,
        description="Time an enrollment may take (seconds): the search for the matching style gets what the "
                    "checks leave, less one round trip; at least one candidate is tried.")
    candidates: int = Field(24, ge=1, le=500, description="Candidate voices synthesized and compared at most.")


class SafetyConfig(Section):
    """[safety] words that get a fixed response and a SafetyEvent, never the model's answer: a lost
    child, an emergency, a visitor feeling unwell (built-in phrases in English and Chinese:
    runtime/dialogue/safety.py; the response is the persona's, see [personas.<id>.safety])."""

    enabled: bool = Field(True, description="Check every visitor utterance for safety phrases.")
    phrases: dict[SafetyCategory, dict[str, list[str]]] = Field(default_factory=dict,
        description="More phrases, by category (lost_child, emergency, unwell) then language: regular "
                    "expressions searched in the visitor's words, lower-cased, in simplified characters, "
                    "without punctuation.")

    @model_validator(mode="after")
    def _compile(self) -> SafetyConfig:
        for category, by_language in self.phrases.items():
            for language, patterns in by_language.items():
                if language not in LANGUAGES:
                    raise ValueError(f"phrases.{category}.{language}: not a language ({', '.join(LANGUAGES)})")
                for pattern in patterns:
                    try:
                        re.compile(pattern)
                    except re.error as err:
                        raise ValueError(f"phrases.{category}.{language}: bad pattern {pattern!r}: {err}") from err
        return self
