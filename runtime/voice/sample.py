"""A voice sample: read, checked and cut to its speech, or refused with a voice-sample-* code.

Refused: a file that cannot be read (unreadable), no sound (silent), samples at full scale
(clipped: distorted timbre would be matched), sound with little speech in it or no words the
recogniser can hear (not-speech: music, singing or noise only), less than MIN_SPEECH_S of speech
(too-short), and speech that sounds like more than one person (several-speakers). More than
MAX_SPEECH_S of speech is trimmed, with a notice.

Several speakers are found two ways. (1) The speech is cut into CHUNK_S pieces whose d-vectors are
split in two groups: refused when the groups are far apart and the smaller one is a real part of
the speech (two readers recorded apart: cosine 0.1-0.4). (2) A change of speaker: the d-vectors of
the CHANGE_SIDE_S of speech before and after each point are compared, and so are the interleaved
0.8 s windows of the same stretch (same people, same microphone and line, so they measure the
sample's own noise); refused when, somewhere, the two sides are CHANGE_RATIO times further apart
(1 - cosine) than that. This is what tells two people on one line apart: on a telephone-band
recording (nothing above 4 kHz) every d-vector is alike (pyannote's two speakers: cosine 0.92 of
their 10 s means, 0.81 median between their 1.5 s pieces against 0.84 within), so no absolute
threshold separates them from one reader, but the sample's own scale does (see CHANGE_RATIO).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from runtime.core.errors import CaptureFault, VoiceFault
from runtime.engines.speaker_dvector import HOP, STRIDE, WINDOW, SpeakerEmbedder, unit
from runtime.speech.audio import SAMPLE_RATE, clipped, dbfs, decode, sanitise, to_rate
from runtime.speech.phonemes import has_cjk

MIN_SPEECH_S = 3.0
"""Least speech (after VAD) a voice is matched to (seconds)."""
MAX_SPEECH_S = 20.0
"""Speech kept (seconds); the rest is trimmed."""
SILENT_DBFS = -55.0
"""A file quieter than this (RMS) holds nothing to hear."""
MAX_CLIPPED = 0.01
"""Fraction of samples at full scale past which a sample is refused as clipped."""
MIN_SPEECH_SHARE = 0.25
"""Below this share of speech in the audible part, a short sample is music or noise, not speech."""
CHUNK_S = 1.5
"""Piece of speech whose d-vector is compared for the several-speakers check (seconds)."""
SEVERAL_COS = 0.4
"""Two groups of pieces whose mean d-vectors are less similar than this are different people (the
same reader's pieces measured 0.51-0.92, two different readers 0.11-0.35)."""
MIN_OTHER_SHARE = 0.2
"""... when the smaller group holds at least this share of the pieces."""
CHANGE_SIDE_S = 3.2
"""Speech on each side of a possible change of speaker: four non-overlapping 0.8 s d-vector windows
(with 1.6 s the two speakers of a telephone conversation are no further apart than one reader's
pieces). Samples shorter than twice this are judged by the groups alone."""
CHANGE_RATIO = 2.6
"""A change of speaker: the two sides at least this many times further apart than interleaved
pieces of the same stretch. Measured (`python -m runtime.bench.several`): one person 0.70-2.23
(the top: one of pyannote's two people with the other's turns cut out), a sample of two people
2.33-4.13 (pyannote's conversation 3.91, two readers 3.06-4.13); the threshold lies between the
largest single value and the smallest of two readers (geometric mean). Two similar voices on one
telephone line with only 3 s of the second are below it (2.33-2.39): the d-vector cannot tell them
apart on so little."""
MIN_WORDS_PER_S = 0.5
"""Words the recogniser must hear per second of speech (people say 2-4; Silero takes a chord with
vibrato for speech, Whisper hears "Oooo" in it)."""
MAX_HEARD_S = 15.0
"""Speech the recogniser listens to (seconds)."""

_HINT = "record 5-10 s of one person speaking, close to the microphone, in a quiet room (WAV, FLAC or OGG)"


@dataclass(frozen=True, slots=True)
class Sample:
    """The speech of a checked sample (16 kHz mono float32) and what was done to it."""

    speech: np.ndarray
    duration_s: float
    """Length of the whole file (seconds)."""
    trimmed_s: float = 0.0
    """Speech left out because the sample was longer than MAX_SPEECH_S (seconds)."""
    language: str = "en"
    """Its language: given, or as the recogniser heard it (en or zh)."""

    @property
    def speech_s(self) -> float:
        """Speech kept (seconds)."""
        return len(self.speech) / SAMPLE_RATE

    def notices(self) -> list[str]:
        """What the operator should know about the sample."""
        if not self.trimmed_s:
            return []
        return [f"voice-sample-trimmed: the sample has {self.speech_s + self.trimmed_s:.1f} s of speech; "
                f"the first {MAX_SPEECH_S:g} s are used"]


def read_sample(path: str | Path) -> np.ndarray:
    """The file as 16 kHz mono float32; voice-sample-unreadable, -silent or -clipped."""
    try:
        mono, rate = decode(path)
        audio = to_rate(sanitise(mono, Path(path).name, report=False), rate)
    except CaptureFault as fault:
        raise VoiceFault("voice-sample-unreadable", f"the voice sample cannot be read: {fault.message}",
                         _HINT) from fault
    if dbfs(audio) < SILENT_DBFS:
        raise VoiceFault("voice-sample-silent", f"the voice sample is silent ({dbfs(audio):.0f} dBFS)",
                         "check that the microphone was on and not muted; " + _HINT)
    if clipped(mono) > MAX_CLIPPED:
        raise VoiceFault("voice-sample-clipped", f"{clipped(mono):.1%} of the sample is clipped (at full scale): "
                         "the distortion would be matched as part of the voice",
                         "record again with less microphone gain, or further from the microphone")
    return audio


def check_sample(audio: np.ndarray, vad, embedder: SpeakerEmbedder, recogniser, *, language: str | None = None,
                 duration_s: float | None = None) -> Sample:
    """The speech of 16 kHz audio (joined VAD segments), checked; `vad` is a fresh SileroVad,
    `recogniser` an ASR engine (it must hear words; it tells the language when none is given)."""
    vad.accept(audio)
    segments = vad.flush()
    speech = np.concatenate([s.samples for s in segments]) if segments else np.zeros(0, np.float32)
    speech_s = len(speech) / SAMPLE_RATE
    duration_s = len(audio) / SAMPLE_RATE if duration_s is None else duration_s
    if speech_s < MIN_SPEECH_S:
        if speech_s < MIN_SPEECH_SHARE * audible_s(audio):
            raise VoiceFault("voice-sample-not-speech", f"little speech was heard in the sample ({speech_s:.1f} s "
                             f"of {duration_s:.1f} s): music or noise only?", _HINT)
        raise VoiceFault("voice-sample-too-short", f"the sample has {speech_s:.1f} s of speech; at least "
                         f"{MIN_SPEECH_S:g} s are needed", "record 5-10 s of the person speaking (pauses do not count)")
    keep = int(MAX_SPEECH_S * SAMPLE_RATE)
    sample = Sample(speech[:keep], duration_s, max(0.0, (len(speech) - keep) / SAMPLE_RATE))
    several = several_speakers(sample.speech, embedder)
    if several:
        raise VoiceFault("voice-sample-several-speakers", f"the sample sounds like more than one person ({several})",
                         "record one person only; cut the other voices out of the file")
    heard = recogniser.transcribe(sample.speech[: int(MAX_HEARD_S * SAMPLE_RATE)], language or "auto")
    if words(heard.text) < MIN_WORDS_PER_S * min(sample.speech_s, MAX_HEARD_S):
        raise VoiceFault("voice-sample-not-speech", f"the recogniser hears {words(heard.text)} word(s) in "
                         f"{sample.speech_s:.1f} s of the sample: music, singing or noise?", _HINT)
    return replace(sample, language=language or ("zh" if heard.language == "zh" else "en"))


def words(text: str) -> int:
    """Words (Chinese: characters) in a transcript; a run of one letter ("Oooo", a hallucination on a
    tone) is not a word."""
    latin = [w for w in re.findall(r"[^\W\d_]+", text) if not has_cjk(w) and len(set(w.lower())) > 1]
    return len(latin) + sum(has_cjk(c) for c in text)


def audible_s(audio: np.ndarray, block: int = SAMPLE_RATE // 50) -> float:
    """Seconds of the audio within 30 dB of its loudest 20 ms block."""
    count = len(audio) // block
    if not count:
        return 0.0
    level = np.sqrt(np.mean(audio[: count * block].reshape(count, block) ** 2, axis=1)) + 1e-9
    return float(np.sum(level > level.max() * 10 ** (-30 / 20))) * block / SAMPLE_RATE


def chunks(speech: np.ndarray, seconds: float = CHUNK_S) -> list[np.ndarray]:
    """Consecutive pieces of `seconds` (the last one takes the remainder)."""
    size = int(seconds * SAMPLE_RATE)
    count = max(1, len(speech) // size)
    return [speech[i * size: (i + 1) * size if i < count - 1 else len(speech)] for i in range(count)]


def several_speakers(speech: np.ndarray, embedder: SpeakerEmbedder) -> str:
    """Why the speech sounds like more than one person ("" when it does not)."""
    apart, share = speaker_split(speech, embedder)
    if apart < SEVERAL_COS and share >= MIN_OTHER_SHARE:
        return f"two groups of its speech, {share:.0%} and {1 - share:.0%}, d-vector similarity {apart:.2f}"
    ratio, at_s = speaker_change(speech, embedder)
    if ratio >= CHANGE_RATIO:
        return (f"the voice changes about {at_s:.1f} s into its speech: the {CHANGE_SIDE_S:g} s on either side are "
                f"{ratio:.1f} times further apart than pieces of the same stretch")
    return ""


def speaker_split(speech: np.ndarray, embedder: SpeakerEmbedder) -> tuple[float, float]:
    """The pieces' d-vectors in two groups (2-means on cosine, seeded with the two least alike):
    the similarity of the groups' means and the smaller group's share (1.0, 0.0 for one piece)."""
    vectors = np.array([embedder.embed(piece) for piece in chunks(speech)])
    if len(vectors) < 2:
        return 1.0, 0.0
    first, second = np.unravel_index(np.argmin(vectors @ vectors.T), (len(vectors),) * 2)
    centres = vectors[[first, second]]
    for _ in range(10):
        group = np.argmax(vectors @ centres.T, axis=1)
        if group.min() == group.max():
            return 1.0, 0.0
        centres = unit(np.array([vectors[group == g].mean(axis=0) for g in (0, 1)]))
    share = float(min(np.mean(group == 0), np.mean(group == 1)))
    return float(centres[0] @ centres[1]), share


def speaker_change(speech: np.ndarray, embedder: SpeakerEmbedder) -> tuple[float, float]:
    """The most likely change of speaker: (1 - cosine of the mean d-vectors of the CHANGE_SIDE_S
    before and after a point) / (1 - median cosine of the interleaved halves of such stretches),
    at its largest, and where (seconds of speech); (0.0, 0.0) when the speech is too short."""
    window_s = WINDOW * HOP / SAMPLE_RATE
    windows = embedder.windows(speech)[:: WINDOW // STRIDE]  # 0.8 s windows every 0.8 s: no audio shared
    side = round(CHANGE_SIDE_S / window_s)
    if len(windows) < 2 * side:
        return 0.0, 0.0
    adjacent, interleaved = [], []
    for t in range(side, len(windows) - side + 1):
        adjacent.append(float(unit(windows[t - side:t].mean(axis=0)) @ unit(windows[t:t + side].mean(axis=0))))
        span = windows[t - side:t + side]
        interleaved.append(float(unit(span[0::2].mean(axis=0)) @ unit(span[1::2].mean(axis=0))))
    at = int(np.argmin(adjacent))
    noise = max(1.0 - float(np.median(interleaved)), 1e-3)
    return (1.0 - adjacent[at]) / noise, (at + side) * window_s
