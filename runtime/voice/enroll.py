"""Voice operations behind the CLI, MQTT and the API: enroll a sample, preview a voice.

Enrollment: check the sample (runtime.voice.sample), detect its language unless given, split its
speech into alternate CHUNK_S pieces (`fit` for the search, `check` held back), search the Kokoro
style (runtime.voice.match) by d-vector and pitch, then keep the best candidate that stays intelligible: its speech of
CHECK, heard back by the product's recogniser, within MAX_ERROR (WER, CER for Chinese). Only the
style tensor and metadata are stored; the sample only with [voice] keep_sample.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.config import Settings
from runtime.core.paths import cache_dir, models_dir, state_dir
from runtime.engines.speaker_dvector import SpeakerEmbedder, unit
from runtime.speech.audio import SAMPLE_RATE, to_rate
from runtime.speech.pitch import median_f0
from runtime.speech.textnorm import cer, wer
from runtime.store.models import ModelStore
from runtime.voice import bundle, match
from runtime.voice.sample import check_sample, chunks, read_sample

_LOGGER = logging.getLogger(__name__)

EMBEDDER = "speaker-embedder"
CHECK = {"en": "The gallery on the second floor opens at nine today.", "zh": "博物馆每天早上九点开门。"}
"""What a matched voice says to be heard back by the recogniser."""
MAX_ERROR = 0.10
"""Word (en) or character (zh) error rate of the round trip a voice must stay within."""
TRIED = 3
"""Best candidates checked for intelligibility before falling back to the nearest stock voice."""
PREVIEW = {"en": "Hello! This is my new voice. I hope it sounds a little like me.",
           "zh": "你好！这是我的新声音，希望它听起来有点像我。"}


@dataclass
class Tools:
    """The models enrollment uses (loaded once; the bench enrolls many samples with one set)."""

    kokoro: object
    embedder: SpeakerEmbedder
    vad: Callable[[], object]
    asr: Callable[[], object]
    """The recogniser, loaded on first use (language detection, round trip)."""


def tools(settings: Settings, store: ModelStore | None = None) -> Tools:
    """The Kokoro engine, the d-vector embedder, VAD and ASR of these settings."""
    from runtime import engines
    from runtime.store.needed import VAD_MODEL

    store = store or ModelStore(models_dir(settings.paths.models))
    section = settings.speak.kokoro()
    store.require([EMBEDDER, VAD_MODEL, *(m for m in (section.model, section.voices) if store.known(m))])
    kokoro = engines.build(section, store)
    embedder = SpeakerEmbedder(store.path(EMBEDDER, "embedder.int8.onnx"))
    vad = engines.vad(store)
    return Tools(kokoro, embedder, lambda: vad(threshold=0.5, min_silence_s=0.3, max_speech_s=30.0),
                 functools.cache(lambda: engines.build(settings.asr, store)))


@dataclass
class Enrolled:
    """A matched voice before it is stored."""

    style: np.ndarray
    meta: dict
    notices: list[str]


def halves(speech: np.ndarray, embedder: SpeakerEmbedder) -> tuple[np.ndarray, np.ndarray]:
    """d-vectors of the sample's alternate pieces: (fit, check); one piece serves as both."""
    vectors = [embedder.windows(piece).mean(axis=0) for piece in chunks(speech)]
    fit = unit(np.mean(vectors[0::2], axis=0))
    return fit, unit(np.mean(vectors[1::2], axis=0)) if len(vectors) > 1 else fit


def enroll_audio(kit: Tools, audio: np.ndarray, language: str | None, budget: match.Budget, *,
                 report: Callable[[str], None] = lambda _: None, keep_alive: Callable[[], None] = lambda: None,
                 duration_s: float | None = None) -> Enrolled:
    """Match a voice to 16 kHz audio of a person speaking."""
    started = time.monotonic()
    sample = check_sample(audio, kit.vad(), kit.embedder, kit.asr(), language=language, duration_s=duration_s)
    notices = sample.notices()
    detected = language is None
    language = sample.language
    fit, check = halves(sample.speech, kit.embedder)
    keep_alive()
    prepared = time.monotonic()
    stock = match.basis(kit.kokoro, kit.embedder, language, cache_dir(), report)
    prepare_s = time.monotonic() - prepared
    started += prepare_s  # preparing the stock voices (once per device) is not the enrollment's budget
    f0 = median_f0(sample.speech)
    found = match.search(kit.kokoro, kit.embedder, stock, language, fit, check, f0, budget,
                         deadline=started + budget.seconds, keep_alive=keep_alive)
    chosen, error = None, None
    for candidate in found.ranked[:TRIED]:
        error = round_trip(kit, stock.style(candidate.weights), language)
        if error <= MAX_ERROR:
            chosen = candidate
            break
    if chosen is None:
        chosen = found.nearest_score
        error = round_trip(kit, stock.style(chosen.weights), language)
        notices.append(f"voice-unintelligible: no matched candidate stayed intelligible; the stock voice "
                       f"{found.nearest} is used")
    elif chosen is found.nearest_score:
        notices.append(f"voice-no-closer-match: no candidate sounded more like the sample than the stock voice "
                       f"{found.nearest}; it is used (a longer or cleaner sample may do better)")
    meta = {"language": language, "language_detected": detected, "nearest_stock": found.closest,
            "start": found.nearest, "pitch_hz": {"sample": round(f0, 1), "voice": round(chosen.f0, 1)},
            "blend": match.top_weights(chosen.weights, stock.names),
            "score": {"matched": round(chosen.score, 3), "start": round(found.nearest_score.score, 3)},
            "round_trip": {"metric": "CER" if language == "zh" else "WER", "error": round(error, 3)},
            "sample_s": round(sample.duration_s, 2), "speech_s": round(sample.speech_s, 2),
            "candidates": found.evaluations, "enroll_s": round(time.monotonic() - started, 1),
            "prepare_s": round(prepare_s, 1)}
    return Enrolled(stock.style(chosen.weights), meta, notices)


def round_trip(kit: Tools, style: np.ndarray, language: str) -> float:
    """Error rate of CHECK spoken with a style and heard back by the recogniser."""
    audio = to_rate(kit.kokoro.render(CHECK[language], style), kit.kokoro.sample_rate, SAMPLE_RATE)
    heard = kit.asr().transcribe(audio, language).text
    return (cer if language == "zh" else wer)(CHECK[language], heard)


def enroll_file(settings: Settings, sample: Path, name: str, *, language: str | None = None,
                replace: bool = False, report: Callable[[str], None] = lambda _: None,
                keep_alive: Callable[[], None] = lambda: None,
                kit: Tools | None = None) -> tuple[Path, dict, list[str]]:
    """Enroll a sample file as voice `name` in the state directory; voice-exists when the name is
    taken, unless replace. Returns the voice's folder, its metadata and notices."""
    state = state_dir(settings.paths.state)
    bundle.check_name(name)
    if not replace:
        bundle.refuse_existing(state, name)  # before the work; save() checks again under its lock
    audio = read_sample(sample)
    cfg = settings.voice
    kit = kit or tools(settings)
    enrolled = enroll_audio(kit, audio, language, match.Budget(cfg.candidates, cfg.enroll_s), report=report,
                            keep_alive=keep_alive)
    folder = bundle.save(state, name, enrolled.style, enrolled.meta, sample if cfg.keep_sample else None,
                         replace=replace)
    _LOGGER.info("voice %s enrolled (%s, %.1f s)", name, enrolled.meta["language"], enrolled.meta["enroll_s"])
    return folder, bundle.load(state, name).meta, enrolled.notices


def preview(settings: Settings, name: str, text: str = "") -> tuple[np.ndarray, int]:
    """An enrolled voice saying a fixed sentence (or `text`): audio and its rate."""
    from runtime import engines
    from runtime.core.errors import SpeakFault

    voice = bundle.load(state_dir(settings.paths.state), name)
    store = ModelStore(models_dir(settings.paths.models))
    engine = engines.build(settings.speak.kokoro(), store)
    engine.add_voice(name, voice.style)
    pieces = [p.audio for p in engine.synthesize(text or PREVIEW[voice.language], name)]
    if not pieces:
        raise SpeakFault("tts-unspeakable", "nothing to say", "pass words to speak")
    return np.concatenate(pieces), engine.sample_rate

