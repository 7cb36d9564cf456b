"""Voice matching: the Kokoro style whose speech sounds most like a person's sample.

No zero-shot cloning model ships through a registry, so this matches within the space of one
multi-speaker model. A Kokoro voice is a style tensor [510, 256] (one row per phoneme count), and
a candidate is an affine blend of the 54 stock voices' whole tensors (weights summing to 1), so
every row stays consistent. A candidate is scored by speaking the PROBES sentences with it and
taking the cosine between their d-vector and the sample's, less a penalty when their median
pitch is off the person's by more than PITCH_FREE semitones (an embedder-independent cue that
people hear at once).

Measured (runtime.bench.voice): a blend's d-vector is not the blend of the voices' d-vectors, and
broad blends sound like an average voice further from anyone, so the search is local and every
candidate is synthesized: start at the nearest stock voice (the stock voices' probe d-vectors are
computed once per device and cached), step towards the next nearest voices, then an evolution
strategy in the stock voices' principal components (step size adapted, early
stop), each coordinate kept within the range the stock voices span (off that manifold the model
mumbles). The search scores candidates against the `fit` part of the sample only. Enrollment
passes `fit` as `check` too: the held-back part of the sample is the verdict's
(runtime.voice.verdict), which judges the winner against the nearest stock voice and the default
with a second encoder the search never sees. Choosing the winner on the held-back part as well
(as this module did first) spent it: a candidate picked as the best of many on the same speech
looks closer than it is (measured: Beckett's 3 s sample, matched 0.577 vs its start am_fenrir
0.616 on speech held back from enrollment, d-vector).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from runtime.engines.speaker_dvector import SpeakerEmbedder, unit
from runtime.speech.audio import SAMPLE_RATE, to_rate
from runtime.speech.pitch import median_f0

_LOGGER = logging.getLogger(__name__)

PROBES = {"en": ("She sells bright yellow shoes by the sea.", "How much would you like to pay today?"),
          "zh": ("我们今天去公园散步吧。", "这个问题其实很简单。")}
"""What every candidate says (short: synthesis is the cost of a candidate)."""
COMPONENTS = 10
"""Principal components of the stock voices the local search moves in."""
MARGIN = 0.1
"""How far past the stock voices' range a coordinate may go (share of the range)."""
PARTNERS = 3
"""Next nearest voices stepped towards, and how far."""
TOWARDS = 0.25
SIGMA = 0.3
"""First step size of the local search, in stock-voice standard deviations per component (small
steps: most large ones sounded less like the person)."""
PITCH_WEIGHT = 0.5
"""Score lost per octave a candidate's median pitch is off the person's (beyond PITCH_FREE): the
d-vector alone put a woman's voice nearest to a man reading Dickens; pitch is heard at once."""
PITCH_FREE = 3.0
"""Semitones of pitch difference that cost nothing (the estimate's noise, a voice's own range): the
penalty is for another register (men and women are 6-12 semitones apart), not for a tone or two."""


@dataclass(frozen=True, slots=True)
class Budget:
    """How much an enrollment may spend."""

    evaluations: int = 24
    """Candidate voices synthesized and scored at most (at least one is)."""
    seconds: float = 55.0
    """Time for the whole enrollment (seconds): the search starts no candidate that would leave
    less than one candidate's time for the round trip after it."""
    patience: int = 3
    """Generations of the local search without improvement before it stops."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A voice tried: its weights over the stock voices and its scores."""

    weights: np.ndarray
    fit: float
    """Cosine to the part of the sample the search sees, less the pitch penalty."""
    check: float
    """Cosine to the held-back part of the sample, less the pitch penalty."""
    f0: float = 0.0
    """Median pitch of its speech (hertz)."""

    @property
    def score(self) -> float:
        """What the result is chosen by: both parts of the sample."""
        return (self.fit + self.check) / 2


@dataclass
class Result:
    """The search's outcome: candidates best first (the stock voice it started from among them)."""

    ranked: list[Candidate]
    nearest: str
    """The stock voice the search started from (the best by d-vector and pitch)."""
    nearest_score: Candidate
    closest: str
    """The stock voice whose d-vector alone is closest to the sample's."""
    evaluations: int
    search_s: float
    trace: list[float] = field(default_factory=list)
    """Best fit score after each evaluation."""


class Basis:
    """The stock voices: their tensors, principal components and probe d-vectors (cached on disk)."""

    def __init__(self, names: list[str], styles: np.ndarray, vectors: np.ndarray, pitch: np.ndarray) -> None:
        self.names = names
        self.styles = styles.reshape(len(names), -1).astype(np.float32)
        self.vectors = vectors
        """(voices, 256) d-vector of each voice's probe speech."""
        self.pitch = pitch
        """(voices,) median F0 of each voice's probe speech (hertz)."""
        centred = self.styles - self.styles.mean(axis=0)
        u, s, _ = np.linalg.svd(centred @ centred.T)  # the Gram matrix: 54 x 54, not 54 x 130,560
        singular = np.sqrt(np.maximum(s, 0))
        k = min(COMPONENTS, int(np.sum(singular > 1e-6 * singular[0])))
        self.to_weights = (u[:, :k] / singular[:k]).T
        """Row k: the weight change that moves a voice by 1 along component k."""
        coords = u[:, :k] * singular[:k]
        self.spread = coords.std(axis=0)
        span = coords.max(axis=0) - coords.min(axis=0)
        self.low, self.high = coords.min(axis=0) - MARGIN * span, coords.max(axis=0) + MARGIN * span
        self.coords = coords

    def style(self, weights: np.ndarray) -> np.ndarray:
        """The [510, 256] tensor of a blend."""
        return (weights @ self.styles).astype(np.float32).reshape(-1, 256)

    def bounded(self, weights: np.ndarray) -> np.ndarray:
        """The blend moved back inside the stock voices' range along each component."""
        coords = weights @ self.coords
        return weights + (np.clip(coords, self.low, self.high) - coords) @ self.to_weights


def basis(engine, embedder: SpeakerEmbedder, language: str, cache: Path,
          report: Callable[[str], None] = lambda _: None) -> Basis:
    """The stock voices of the engine's voice folder with their probe d-vectors, computed once per
    device and language (minutes) and kept in `cache` (rebuildable)."""
    names = sorted(p.stem for p in engine.voices_dir.glob("*.bin"))
    styles = np.stack([engine.style(n) for n in names])
    key = hashlib.sha256(json.dumps([PROBES[language], names]).encode() + styles.tobytes()).hexdigest()[:16]
    path = cache / f"voice-basis-{language}-{key}.npz"
    try:
        with np.load(path) as stored:
            if stored["vectors"].shape == (len(names), 256) and stored["pitch"].shape == (len(names),):
                return Basis(names, styles, stored["vectors"], stored["pitch"])
    except (OSError, ValueError, KeyError):
        _LOGGER.debug("voice basis %s: not cached yet (or damaged)", language)
    report(f"preparing the {len(names)} stock voices for matching ({language}), once for this device")
    started = time.monotonic()
    probes = [probe(engine, embedder, styles[i], language) for i in range(len(names))]
    vectors, pitch = np.stack([v for v, _ in probes]), np.array([f for _, f in probes])
    cache.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as handle:
        np.savez(handle, vectors=vectors, pitch=pitch)
    part.replace(path)
    _LOGGER.info("voice basis %s: %d voices in %.0f s", language, len(names), time.monotonic() - started)
    return Basis(names, styles, vectors, pitch)


def probe(engine, embedder: SpeakerEmbedder, style: np.ndarray, language: str) -> tuple[np.ndarray, float]:
    """The d-vector and the median pitch (hertz) of the PROBES sentences spoken with a style."""
    audio = [to_rate(engine.audio_with_style(text, style), engine.sample_rate, SAMPLE_RATE)
             for text in PROBES[language]]
    vector = unit(np.concatenate([embedder.windows(a) for a in audio]).mean(axis=0))
    return vector, median_f0(np.concatenate(audio))


def pitch_penalty(f0: float, target: float) -> float:
    """What a pitch off the person's costs a candidate's score: PITCH_WEIGHT per octave beyond
    PITCH_FREE semitones (0 when either pitch is unknown)."""
    if f0 <= 0 or target <= 0:
        return 0.0
    semitones = abs(12 * np.log2(f0 / target))
    return PITCH_WEIGHT * max(0.0, semitones - PITCH_FREE) / 12


def search(engine, embedder: SpeakerEmbedder, stock: Basis, language: str, fit: np.ndarray, check: np.ndarray,
           f0: float, budget: Budget = Budget(), *, deadline: float | None = None, seed: int = 0,
           keep_alive: Callable[[], None] = lambda: None) -> Result:
    """Candidates for the sample whose d-vectors are `fit` (searched) and `check` (held back) and
    whose median pitch is `f0` (hertz); `deadline` (time.monotonic()) ends the enrollment (default:
    budget.seconds from now)."""
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    deadline = started + budget.seconds if deadline is None else deadline
    eye = np.eye(len(stock.names))
    penalty = np.array([pitch_penalty(p, f0) for p in stock.pitch])
    stocks = [Candidate(eye[i], float(v @ fit - penalty[i]), float(v @ check - penalty[i]), float(stock.pitch[i]))
              for i, v in enumerate(stock.vectors)]
    order = sorted(range(len(stocks)), key=lambda i: -stocks[i].fit)
    nearest = order[0]
    best = stocks[nearest]
    tried: list[Candidate] = []
    trace: list[float] = []

    def evaluate(weights: np.ndarray) -> Candidate:
        keep_alive()
        vector, pitch = probe(engine, embedder, stock.style(weights), language)
        cost = pitch_penalty(pitch, f0)
        tried.append(Candidate(weights, float(vector @ fit) - cost, float(vector @ check) - cost, pitch))
        trace.append(max(best.fit, tried[-1].fit))
        return tried[-1]

    def spent() -> bool:
        if not tried:
            return False
        each = (time.monotonic() - started) / len(tried)
        # The next candidate and the round trip after the search must both fit before the deadline.
        return len(tried) >= budget.evaluations or time.monotonic() + 2 * each > deadline

    for other in order[1: 1 + PARTNERS]:
        if spent():
            break
        candidate = evaluate(stock.bounded(best.weights + TOWARDS * (eye[other] - eye[nearest])))
        best = candidate if candidate.fit > best.fit else best
    sigma, stale = SIGMA, 0
    while not spent() and stale < budget.patience:
        improved = False
        for _ in range(2):
            if spent():
                break
            move = (sigma * rng.standard_normal(len(stock.spread)) * stock.spread) @ stock.to_weights
            candidate = evaluate(stock.bounded(best.weights + move))
            if candidate.fit > best.fit:
                best, improved = candidate, True
        sigma, stale = (sigma * 1.3, 0) if improved else (sigma * 0.7, stale + 1)
    # The start competes too (no enrolled voice sounds less like the sample than it), but with its
    # held-back score only: it was picked as the best of all stock voices on `fit`, so its fit score
    # is optimistic (the winner's curse) while the candidates' are measured once.
    start = replace(stocks[nearest], fit=stocks[nearest].check)
    ranked = sorted([*tried, start], key=lambda c: -c.score)
    closest = stock.names[int(np.argmax(stock.vectors @ (fit + check)))]
    return Result(ranked, stock.names[nearest], start, closest, len(tried), time.monotonic() - started, trace)


def top_weights(weights: np.ndarray, names: list[str], count: int = 5) -> dict[str, float]:
    """The largest weights of a blend, by voice name (for the voice's metadata)."""
    order = np.argsort(-np.abs(weights))[:count]
    return {names[i]: round(float(weights[i]), 3) for i in order if abs(weights[i]) >= 0.005}
