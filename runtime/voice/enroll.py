"""Voice operations behind the CLI, MQTT and the API: enroll a sample, preview a voice.

Enrollment: check the sample (runtime.voice.sample), detect its language unless given, split its
speech into alternate CHUNK_S pieces (`fit` for the search, `check` held back), search the Kokoro
style (runtime.voice.match) by d-vector and pitch on `fit` only, take the best candidate that stays
intelligible (its speech of CHECK, heard back by the product's recogniser, within MAX_ERROR: WER,
CER for Chinese), then judge it on `check` against the nearest stock voice and the language's
default voice by two speaker encoders (runtime.voice.verdict). Only a voice closer than both by
both encoders is stored; otherwise `voice-match-poor` offers the closer of the two. Only the style
tensor and metadata are stored; the sample only with [voice] keep_sample.
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
from runtime.core.paths import cache_dir
from runtime.engines.speaker_dvector import SpeakerEmbedder, unit
from runtime.engines.speaker_ge2e import GE2EEncoder
from runtime.places import Places
from runtime.speech.audio import SAMPLE_RATE, to_rate
from runtime.speech.pitch import median_f0
from runtime.speech.textnorm import cer, wer
from runtime.store.models import ModelStore
from runtime.voice import bundle, match, verdict
from runtime.voice.sample import check_sample, chunks, read_sample

_LOGGER = logging.getLogger(__name__)

EMBEDDER = "speaker-embedder"
GE2E = "speaker-ge2e"
CHECK = {"en": "The gallery on the second floor opens at nine today.", "zh": "博物馆每天早上九点开门。"}
"""What a matched voice says to be heard back by the recogniser (and, with SECOND, to be judged)."""
SECOND = {"en": "I would be glad to show you the way to the old library.", "zh": "我很乐意带你去二楼的图书馆。"}
"""The verdict's second sentence: neither it nor CHECK is said by any voice the search scores."""
MAX_ERROR = 0.10
"""Word (en) or character (zh) error rate of the round trip a voice must stay within."""
TRIED = 3
VERDICT_SHARE = 0.8
"""Share of the enrollment's time the search may use: the round trip and the verdict need the rest."""
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
    ge2e: GE2EEncoder
    """The second judge (never used by the search)."""
    default: Callable[[str], tuple[str, object] | None]
    """A language's default voice ([speak.<lang>]): its name and engine (None for captions only), loaded
    on first use."""


def tools(settings: Settings, store: ModelStore) -> Tools:
    """The Kokoro engine, the d-vector embedder, VAD and ASR of these settings, from the store."""
    from runtime import engines
    from runtime.engines.vad_silero import VAD_MODEL

    section = settings.speak.kokoro()
    store.require([EMBEDDER, GE2E, VAD_MODEL, *(m for m in (section.model, section.voices) if store.known(m))])
    kokoro = engines.build(section, store)
    embedder = SpeakerEmbedder(store.path(EMBEDDER, "embedder.int8.onnx"))
    vad = engines.vad(store)

    @functools.cache
    def default(language: str):
        speak = getattr(settings.speak, language)
        return (speak.voice or speak.type, engines.build(speak, store)) if engines.module_of(speak) else None

    return Tools(kokoro, embedder, lambda: vad(threshold=0.5, min_silence_s=0.3, max_speech_s=30.0),
                 functools.cache(lambda: engines.build(settings.asr, store)),
                 GE2EEncoder(store.path(GE2E, "pretrained.pt")), default)


@dataclass
class Enrolled:
    """A matched voice before it is stored."""

    style: np.ndarray | None
    """None when the match is poor (nothing is stored; meta["offer"] names the voice to use)."""
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
    """Match a voice to 16 kHz audio of a person speaking and judge it on the held-back speech."""
    started = time.monotonic()
    sample = check_sample(audio, kit.vad(), kit.embedder, kit.asr(), language=language, duration_s=duration_s)
    notices = sample.notices()
    detected = language is None
    language = sample.language
    fit, _ = halves(sample.speech, kit.embedder)
    pieces = chunks(sample.speech)
    person = verdict.person(pieces[1::2] or pieces, kit.embedder, kit.ge2e)
    keep_alive()
    prepared = time.monotonic()
    stock = match.basis(kit.kokoro, kit.embedder, language, cache_dir(), report)
    prepare_s = time.monotonic() - prepared
    started += prepare_s  # preparing the stock voices (once per device) is not the enrollment's budget
    f0 = median_f0(sample.speech)
    # The search sees `fit` only: `check` is the verdict's, so its numbers are not flattered by the search.
    found = match.search(kit.kokoro, kit.embedder, stock, language, fit, fit, f0, budget,
                         deadline=started + budget.seconds * VERDICT_SHARE, keep_alive=keep_alive)
    chosen, error, spoken = None, 1.0, []
    for candidate in [c for c in found.ranked if c is not found.nearest_score][:TRIED]:
        keep_alive()
        spoken = [kokoro_speech(kit, stock.style(candidate.weights), language)]
        error = heard_error(kit, spoken[0], language)
        if error <= MAX_ERROR:
            chosen = candidate
            break
    keep_alive()
    judged = judge(kit, stock.style((chosen or found.ranked[0]).weights), spoken if chosen else [], found.nearest,
                   language, person)
    if chosen is None:
        notices.append(f"voice-unintelligible: no matched candidate stayed intelligible (round trip "
                       f"{'CER' if language == 'zh' else 'WER'} {error:.0%})")
    poor = chosen is None or not judged.closer
    if poor:
        notices.append(judged.notice() or f"voice-match-poor: nothing was stored; use {judged.offer} instead")
    chosen = chosen or found.ranked[0]
    meta = {"language": language, "language_detected": detected, "nearest_stock": found.nearest,
            "closest_dvector": found.closest, "pitch_hz": {"sample": round(f0, 1), "voice": round(chosen.f0, 1)},
            "blend": match.top_weights(chosen.weights, stock.names),
            "similarity": judged.as_dict(), "stored": not poor, "offer": judged.offer if poor else None,
            "round_trip": {"metric": "CER" if language == "zh" else "WER", "error": round(error, 3)},
            "sample_s": round(sample.duration_s, 2), "speech_s": round(sample.speech_s, 2),
            "candidates": found.evaluations, "enroll_s": round(time.monotonic() - started, 1),
            "prepare_s": round(prepare_s, 1)}
    return Enrolled(None if poor else stock.style(chosen.weights), meta, notices)


def judge(kit: Tools, style: np.ndarray, spoken: list[np.ndarray], nearest: str, language: str,
          person: verdict.Person) -> verdict.Verdict:
    """The matched style (its CHECK speech when already spoken), the nearest stock voice and the
    default voice saying CHECK and SECOND, compared with the held-back speech by both encoders."""
    texts = (CHECK[language], SECOND[language])

    def kokoro(styled: np.ndarray) -> list[np.ndarray]:
        return verdict.speech(lambda text: kit.kokoro.audio_with_style(text, styled), kit.kokoro.sample_rate, texts)

    matched = spoken + kokoro(style)[len(spoken):] if spoken else kokoro(style)
    scores = {"matched": verdict.similarity(matched, person, kit.embedder, kit.ge2e),
              "nearest": verdict.similarity(kokoro(kit.kokoro.style(nearest)), person, kit.embedder, kit.ge2e)}
    default = kit.default(language)
    name = ""
    if default is not None:
        name, engine = default
        audio = verdict.speech(lambda text: np.concatenate([p.audio for p in engine.synthesize(text, "")]),
                               engine.sample_rate, texts)
        scores["default"] = verdict.similarity(audio, person, kit.embedder, kit.ge2e)
    return verdict.Verdict(scores["matched"], scores["nearest"], nearest, scores.get("default"), name,
                           person.seconds)


def kokoro_speech(kit: Tools, style: np.ndarray, language: str) -> np.ndarray:
    """CHECK spoken with a style, at 16 kHz."""
    return to_rate(kit.kokoro.audio_with_style(CHECK[language], style), kit.kokoro.sample_rate, SAMPLE_RATE)


def heard_error(kit: Tools, audio: np.ndarray, language: str) -> float:
    """Error rate of CHECK as the recogniser hears it in 16 kHz audio."""
    heard = kit.asr().transcribe(audio, language).text
    return (cer if language == "zh" else wer)(CHECK[language], heard)


def enroll_file(settings: Settings, places: Places, sample: Path, name: str, *, language: str | None = None,
                replace: bool = False, report: Callable[[str], None] = lambda _: None,
                keep_alive: Callable[[], None] = lambda: None,
                kit: Tools | None = None) -> tuple[Path | None, dict, list[str]]:
    """Enroll a sample file as voice `name` in the state directory; voice-exists when the name is
    taken, unless replace. Returns the voice's folder (None when the match was poor and nothing
    was stored: meta["offer"] names the voice to use instead), its metadata and notices."""
    state = places.state
    bundle.check_name(name)
    if not replace:
        bundle.refuse_existing(state, name)  # before the work; save() checks again under its lock
    audio = read_sample(sample)
    cfg = settings.voice
    kit = kit or tools(settings, places.models)
    enrolled = enroll_audio(kit, audio, language, match.Budget(cfg.candidates, cfg.enroll_s), report=report,
                            keep_alive=keep_alive)
    if enrolled.style is None:
        _LOGGER.info("voice %s not enrolled: no closer match (%s offered)", name, enrolled.meta["offer"])
        return None, dict(enrolled.meta, name=name), enrolled.notices
    folder = bundle.save(state, name, enrolled.style, enrolled.meta, sample if cfg.keep_sample else None,
                         replace=replace)
    _LOGGER.info("voice %s enrolled (%s, %.1f s)", name, enrolled.meta["language"], enrolled.meta["enroll_s"])
    return folder, bundle.load(state, name).meta, enrolled.notices


def summary(name: str, meta: dict) -> str:
    """One line for the operator: what was reached on the held-back speech, against what."""
    sim = meta["similarity"]
    judged = verdict.Verdict(sim["matched"], sim["nearest"], sim["nearest"]["voice"], sim.get("default"),
                             sim.get("default", {}).get("voice", ""), sim["held_back_s"])
    trip = meta["round_trip"]
    head = (f"enrolled {name}" if meta.get("stored", True) else
            f"not enrolled {name}: the match is poor; use {meta['offer']} instead")
    return (f"{head} ({meta['language']}, {meta['speech_s']} s of speech, {meta['enroll_s']} s, "
            f"{meta['candidates']} candidates): similarity to the held-back {sim['held_back_s']:g} s of the sample: "
            f"{verdict.describe(judged)}; pitch {meta['pitch_hz']['voice']:.0f} Hz (sample "
            f"{meta['pitch_hz']['sample']:.0f} Hz); round trip {trip['metric']} {trip['error']:.0%}")


def preview(settings: Settings, places: Places, name: str, text: str = "") -> tuple[np.ndarray, int]:
    """An enrolled voice saying a fixed sentence (or `text`): audio and its rate."""
    from runtime import engines
    from runtime.core.errors import SpeakFault

    voice = bundle.load(places.state, name)
    engine = engines.build(settings.speak.kokoro(), places.models)
    engine.add_voice(name, voice.style)
    pieces = [p.audio for p in engine.synthesize(text or PREVIEW[voice.language], name)]
    if not pieces:
        raise SpeakFault("tts-unspeakable", "nothing to say", "pass words to speak")
    return np.concatenate(pieces), engine.sample_rate

