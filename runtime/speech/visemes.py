"""Viseme tracks: which mouth shape is heard when, exact to the audio sample.

THE IPA -> viseme table lives here and only here. Each viseme class has mouth targets:
jaw open, lip spread, lip round, lip press (m/b/p) and teeth-on-lip (f/v), each 0..1. A track is
a run of entries (start sample, length in samples, viseme class, targets) that tiles the audio
exactly: the lengths add up to the number of samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from runtime.core.compat import StrEnum
from runtime.core.rates import VOICE_RATE
from runtime.speech.audio import frame_rms, to_db


class Viseme(StrEnum):
    """Mouth shape classes (close to the Oculus/MPEG-4 set)."""

    SIL = "sil"
    PP = "PP"
    FF = "FF"
    TH = "TH"
    DD = "DD"
    KK = "kk"
    CH = "CH"
    SS = "SS"
    RR = "RR"
    AA = "aa"
    E = "E"
    I = "I"  # noqa: E741 - the class is called I
    O = "O"  # noqa: E741 - the class is called O
    U = "U"
    SCHWA = "@"


TARGET_NAMES = ("jaw_open", "lip_spread", "lip_round", "lip_press", "teeth_on_lip")

# class: (jaw_open, lip_spread, lip_round, lip_press, teeth_on_lip)
TARGETS: dict[Viseme, tuple[float, float, float, float, float]] = {
    Viseme.SIL: (0.0, 0.0, 0.0, 0.0, 0.0),
    Viseme.PP: (0.0, 0.0, 0.1, 1.0, 0.0),
    Viseme.FF: (0.1, 0.2, 0.0, 0.0, 1.0),
    Viseme.TH: (0.2, 0.3, 0.0, 0.0, 0.0),
    Viseme.DD: (0.25, 0.3, 0.0, 0.0, 0.0),
    Viseme.KK: (0.3, 0.2, 0.0, 0.0, 0.0),
    Viseme.CH: (0.2, 0.0, 0.6, 0.0, 0.0),
    Viseme.SS: (0.1, 0.5, 0.0, 0.0, 0.0),
    Viseme.RR: (0.25, 0.0, 0.5, 0.0, 0.0),
    Viseme.AA: (0.85, 0.25, 0.0, 0.0, 0.0),
    Viseme.E: (0.55, 0.55, 0.0, 0.0, 0.0),
    Viseme.I: (0.3, 0.75, 0.0, 0.0, 0.0),
    Viseme.O: (0.6, 0.0, 0.75, 0.0, 0.0),
    Viseme.U: (0.3, 0.0, 0.9, 0.0, 0.0),
    Viseme.SCHWA: (0.4, 0.15, 0.05, 0.0, 0.0),
}

# Phoneme symbol -> class: espeak-ng IPA (as piper emits it) and misaki's symbols (what Kokoro
# reads: IPA plus one-letter diphthongs A=eɪ I=aɪ W=aʊ O=oʊ Q=əʊ Y=ɔɪ, T = flap, and for Mandarin
# pinyin in IPA: ʦ=z/c ʨ=j/q ꭧ=zh/ch ɕ=x ʂ=sh ɻ=r ɨ=zi/zhi ɤ=e y=ü x=h). Unknown symbols and
# punctuation are pauses (sil).
IPA: dict[str, Viseme] = {
    **dict.fromkeys("pbmβɸ", Viseme.PP),
    **dict.fromkeys("fvʋ", Viseme.FF),
    **dict.fromkeys("θð", Viseme.TH),
    **dict.fromkeys("tdnlɾɫTʔɖʈɳɲɽʎ", Viseme.DD),
    **dict.fromkeys("kgŋxɡqcɟɴɣχ", Viseme.KK),
    **dict.fromkeys("ʃʒʧʤʂꭧɻ", Viseme.CH),
    **dict.fromkeys("szɕʑSʦʣʨʥçʝ", Viseme.SS),
    **dict.fromkeys("ɹrɚɝʁ", Viseme.RR),
    **dict.fromkeys("aɑæɐʌIW", Viseme.AA),
    **dict.fromkeys("eɛA", Viseme.E),
    **dict.fromkeys("iɪᵻjɨ", Viseme.I),
    **dict.fromkeys("oɔɒOQYøœ", Viseme.O),
    **dict.fromkeys("uʊwɯyɥɰ", Viseme.U),  # y is IPA ü: rounded lips
    **dict.fromkeys("əɜɤᵊ", Viseme.SCHWA),
    "h": Viseme.SCHWA,
}
STRESS = "ˈˌ"
"""Stress marks, and the word boundary " ": not sounds of their own (see from_alignments)."""
LENGTH = "ː"
MODIFIERS = LENGTH + "ʰʲ\u0303ᵝ↓→↗↘"
"""Marks that change the sound before them (length, aspiration, palatal, nasal, Mandarin tones
written after the vowel nucleus): they join the entry before them."""
IDS = {v: i for i, v in enumerate(Viseme)}
"""Viseme -> small integer (wire format)."""


@dataclass(frozen=True, slots=True)
class VisemeTrack:
    """Entries tiling the audio: `spans` int32 (n, 2) = start, length; `targets` float32 (n, 5)."""

    sample_rate: int
    spans: np.ndarray
    targets: np.ndarray
    visemes: tuple[str, ...]
    """Class of each entry (`~` for entries derived from audio, which have no class)."""

    @property
    def num_samples(self) -> int:
        """Samples covered (= the audio's length)."""
        return int(self.spans[:, 1].sum()) if len(self.spans) else 0

    def at(self, sample: int) -> np.ndarray:
        """Targets of the entry that is heard at `sample` (silence outside the track)."""
        if not len(self.spans) or sample < 0 or sample >= self.num_samples:
            return np.zeros(len(TARGET_NAMES), np.float32)
        index = int(np.searchsorted(self.spans[:, 0], sample, side="right")) - 1
        return self.targets[index]

    def as_json(self) -> str:
        """The track as JSON (for `speak --visemes`)."""
        rows = [{"start": int(s), "samples": int(n), "viseme": v,
                 **{k: round(float(x), 3) for k, x in zip(TARGET_NAMES, t, strict=True)}}
                for (s, n), t, v in zip(self.spans, self.targets, self.visemes, strict=True)]
        return json.dumps({"sample_rate": self.sample_rate, "targets": list(TARGET_NAMES), "track": rows},
                          ensure_ascii=False)


def from_alignments(alignments: list[tuple[str, int]], sample_rate: int) -> VisemeTrack:
    """Track from (phoneme, num_samples) pairs (piper's alignments, Kokoro's durations); every
    sample stays where the voice put it."""
    return from_entries(merge(alignments), sample_rate)


def merge(alignments: list[tuple[str, int]]) -> list[tuple[Viseme, int]]:
    """(phoneme, samples) pairs -> (viseme, samples) entries: neighbours of one class merged, marks
    joined to their sound, word boundaries shared by the words on either side."""
    merged: list[list] = []  # [viseme, samples]
    carry = 0
    for phoneme, count in alignments:
        count = int(count)
        if phoneme == " " and merged:
            # A word boundary is not a pause: the mouth glides from one word into the next.
            half = count // 2
            merged[-1][1] += half
            carry += count - half
            continue
        if phoneme in STRESS or phoneme == " " or (phoneme in MODIFIERS and not merged):
            carry += count
            continue
        if phoneme in MODIFIERS:
            merged[-1][1] += count + carry
            carry = 0
            continue
        viseme = IPA.get(phoneme, Viseme.SIL)
        if merged and merged[-1][0] == viseme:
            merged[-1][1] += count + carry
        else:
            merged.append([viseme, count + carry])
        carry = 0
    if carry:
        merged.append([Viseme.SIL, carry])
    return [(v, n) for v, n in merged if n > 0]


def from_entries(entries: list[tuple[Viseme, int]], sample_rate: int) -> VisemeTrack:
    """Track from consecutive (viseme, samples) entries."""
    lengths = np.array([n for _, n in entries], dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32) if len(lengths) else lengths
    spans = np.stack([starts, lengths], axis=1) if len(lengths) else np.zeros((0, 2), np.int32)
    targets = np.array([TARGETS[v] for v, _ in entries], dtype=np.float32).reshape(-1, len(TARGET_NAMES))
    return VisemeTrack(sample_rate, spans, targets, tuple(str(v) for v, _ in entries))


def resampled(track: VisemeTrack, sample_rate: int, num_samples: int) -> VisemeTrack:
    """The track of the same audio resampled to `sample_rate` (`num_samples` long): every boundary
    scaled and rounded, so the entries still tile the audio exactly."""
    if sample_rate == track.sample_rate and num_samples == track.num_samples:
        return track
    ends = np.cumsum(track.spans[:, 1].astype(np.int64))
    scaled = np.round(ends * (sample_rate / track.sample_rate)).astype(np.int64)
    if len(scaled):
        scaled[-1] = num_samples
    scaled = np.minimum(scaled, num_samples)
    lengths = np.diff(np.concatenate([[0], scaled]))
    keep = lengths > 0
    lengths = lengths[keep].astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    return VisemeTrack(sample_rate, np.stack([starts, lengths], axis=1), track.targets[keep],
                       tuple(v for v, k in zip(track.visemes, keep, strict=True) if k))


def clipped(track: VisemeTrack, start: int, stop: int) -> VisemeTrack:
    """The part of the track heard from sample `start` to `stop` (exclusive), starting at 0."""
    begins = np.clip(track.spans[:, 0].astype(np.int64), start, stop)
    ends = np.clip(track.spans[:, 0].astype(np.int64) + track.spans[:, 1], start, stop)
    keep = ends > begins
    spans = np.stack([begins[keep] - start, (ends - begins)[keep]], axis=1).astype(np.int32).reshape(-1, 2)
    return VisemeTrack(track.sample_rate, spans, track.targets[keep],
                       tuple(v for v, k in zip(track.visemes, keep, strict=True) if k))


def from_audio(audio: np.ndarray, sample_rate: int, hop_s: float = 0.01) -> VisemeTrack:
    """Track derived from the sound alone (a user's WAV): loudness opens the jaw, the spectral
    centroid decides spread (bright: s, i, e) against round (dark: o, u); near-silence closes the
    lips. Entries are hop_s long (the last one takes the remainder)."""
    hop = max(1, int(hop_s * sample_rate))
    count = max(1, int(np.ceil(len(audio) / hop)))
    padded = np.zeros(count * hop, np.float32)
    padded[: len(audio)] = audio
    frames = padded.reshape(count, hop)
    window = np.hanning(hop).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames * window, axis=1))
    freqs = np.fft.rfftfreq(hop, 1.0 / sample_rate)
    power = spectrum.sum(axis=1) + 1e-9
    centroid = (spectrum * freqs).sum(axis=1) / power
    level = to_db(frame_rms(padded, hop))
    jaw = np.clip((level + 50.0) / 35.0, 0.0, 1.0)
    jaw = np.convolve(jaw, np.ones(3) / 3, mode="same")  # soften frame-to-frame jitter
    bright = np.clip((centroid - 1200.0) / 2500.0, 0.0, 1.0)
    voiced = jaw > 0.05
    targets = np.zeros((count, len(TARGET_NAMES)), np.float32)
    targets[:, 0] = jaw * (1.0 - 0.5 * bright)  # fricatives are loud but the jaw stays nearly shut
    targets[:, 1] = np.where(voiced, 0.7 * bright, 0.0)
    targets[:, 2] = np.where(voiced, 0.6 * (1.0 - bright) * jaw, 0.0)
    lengths = np.full(count, hop, np.int32)
    lengths[-1] = len(audio) - hop * (count - 1)
    starts = np.arange(count, dtype=np.int32) * hop
    keep = lengths > 0
    return VisemeTrack(sample_rate, np.stack([starts, lengths], axis=1)[keep], targets[keep],
                       tuple("~" for _ in range(int(keep.sum()))))


def concat(tracks: list[VisemeTrack]) -> VisemeTrack:
    """Tracks of consecutive audio pieces as one track."""
    if not tracks:
        return VisemeTrack(VOICE_RATE, np.zeros((0, 2), np.int32), np.zeros((0, len(TARGET_NAMES)), np.float32), ())
    offsets = np.cumsum([0, *(t.num_samples for t in tracks[:-1])])
    spans = np.concatenate([t.spans + np.array([off, 0]) for t, off in zip(tracks, offsets, strict=True)])
    spans = spans.astype(np.int32)
    return VisemeTrack(tracks[0].sample_rate, spans, np.concatenate([t.targets for t in tracks]),
                       tuple(v for t in tracks for v in t.visemes))
