"""Whisper ASR with faster-whisper on CTranslate2 (CPU int8 by default).

Finals decode with timestamps; with window = "fit" (the default) the encoder sees the utterance
plus two seconds of silence instead of Whisper's 30 s window, which costs a fifth to a tenth as
much on a short utterance (the encoder dominates), and words came out the same on the bench's
recorded speech; a decode that looks looped (a sentence or word said over and over, or the length
cap reached) is redone on the full window. Partials trade accuracy for speed: the audio so far
plus one second, no timestamps, length capped so a confused decoder cannot loop. Partials are for
display; only finals are answered.
Whisper often writes Mandarin in traditional characters; every transcript is given in simplified
ones (OpenCC), as the product shows and answers them.
"""

from __future__ import annotations

import itertools
import logging
import re
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from runtime.core.errors import ListenFault
from runtime.core.section import Backend
from runtime.engines.asr import AsrResult, AsrSegment
from runtime.speech.audio import SAMPLE_RATE
from runtime.speech.language import join_words, to_simplified
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)

_WINDOW_S = 30
_WINDOW_FRAMES = 3000
"""Mel frames of Whisper's 30 s window."""
_MAX_TOKENS = 224
_NO_SPEECH = 0.6
_LOW_LOGPROB = -1.0
"""Whisper's own rule: no-speech probability above _NO_SPEECH and a mean log-prob below
_LOW_LOGPROB means the window holds no words (noise, breath), not a hallucinated sentence."""
_PARTIAL_PAD_S = 1.0
_PARTIAL_TOKENS_PER_S = 8
_FIT_PAD_S = 2.0
"""Silence after the utterance in a fitted window: the decoder sees where speech ends (with
one second it sometimes said a short utterance twice)."""
_FIT_TOKENS_PER_S = 12
"""Length cap of a fitted decode (text and timestamp tokens per second of audio)."""
_TAIL_S = 0.3
"""A segment starting this close to the audio's end that says the utterance's first words again
is the decoder reading the silence after the words ("I would be glad. I would be"): a real last
word there is new, not a repeat."""
_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]*")


class WhisperAsr(Backend):
    """[asr] type = "whisper": faster-whisper on CTranslate2."""

    type: Literal["whisper"] = "whisper"
    model: str = Field("asr-whisper-base",
        description="Model id from models/manifest.toml (asr-whisper-tiny-en is the fast English one) "
                    "or a CTranslate2 model directory.")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="Where to run.")
    compute_type: str = Field("int8", description="CTranslate2 compute type: int8, int8_float16, float16, float32.")
    threads: int = Field(1, ge=1, le=64,
        description="CPU threads for decoding (1: on 2 cores the LLM and the voice run beside it; with more "
                    "threads than free cores the decoder's threads wait on each other).")
    beam_size: int = Field(1, ge=1, le=10, description="Beam width of finals (1 = greedy, fastest).")
    window: Literal["fit", "full"] = Field("fit",
        description="What the encoder sees for a final: fit = the utterance plus 2 s of silence (several times "
                    "faster on short utterances; a looped decode is redone on the full window), full = Whisper's "
                    "30 s window.")
    languages: list[str] = Field(["en", "zh"], description="Languages `auto` may pick from (empty: any).")


def create(cfg: WhisperAsr, store: ModelStore) -> WhisperEngine:
    """The engine for an [asr] type = "whisper" section."""
    return WhisperEngine(store.locate(cfg.model), compute_type=cfg.compute_type, threads=cfg.threads,
                         beam_size=cfg.beam_size, languages=tuple(cfg.languages), device=cfg.device,
                         window=cfg.window)


class WhisperEngine:
    """faster-whisper on a CTranslate2 model directory."""

    def __init__(self, model_dir: Path, *, compute_type: str = "int8", threads: int = 2, beam_size: int = 5,
                 languages: tuple[str, ...] = ("en", "zh"), device: str = "cpu", window: str = "full") -> None:
        from faster_whisper import WhisperModel

        try:
            self.model = WhisperModel(str(model_dir), device=device, compute_type=compute_type,
                                      cpu_threads=threads)
        except (RuntimeError, ValueError, OSError) as err:
            raise ListenFault("asr-model-invalid", f"cannot load whisper model {model_dir}: {err}",
                               "run `edge-talker models verify`, or check [asr] device and compute_type") from err
        self.beam_size = beam_size
        self.window = window
        """"fit": finals encode the utterance plus _FIT_PAD_S; "full": Whisper's 30 s window."""
        self.languages = languages
        """Languages `auto` may choose from (empty: any the model knows)."""

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        """Transcript with segment times: one encoder pass (over the fitted or the full window),
        the language detected from that same pass (restricted to `languages`), then one decode."""
        audio = audio[: _WINDOW_S * SAMPLE_RATE]
        if self.window == "fit" and len(audio) / SAMPLE_RATE + _FIT_PAD_S < _WINDOW_S:
            padded = np.concatenate([audio, np.zeros(int(_FIT_PAD_S * SAMPLE_RATE), np.float32)])
            features = self.model.feature_extractor(padded)
            cap = len(self._tokenizer("en").sot_sequence) + 8 + int(_FIT_TOKENS_PER_S * len(audio) / SAMPLE_RATE)
            result = self._decode(audio, features[:, : features.shape[1] - features.shape[1] % 2], language,
                                  min(cap, _MAX_TOKENS))
            if result is not None:
                return result
            _LOGGER.debug("a fitted decode looked looped: decoding again on the full window")
        features = self.model.feature_extractor(audio, padding=_WINDOW_S * SAMPLE_RATE)[:, : _WINDOW_FRAMES]
        return self._decode(audio, features, language, _MAX_TOKENS, check=False)

    def _decode(self, audio: np.ndarray, features: np.ndarray, language: str, max_length: int,
                check: bool = True) -> AsrResult | None:
        """One encoder pass and one decode; None when `check` finds it looped (or cut at max_length)."""
        encoded = self._encode(features)
        lang = language if language != "auto" else self._detect(encoded)
        tokenizer = self._tokenizer(lang)
        result = self.model.model.generate(
            encoded, [list(tokenizer.sot_sequence)], beam_size=self.beam_size, max_length=max_length,
            suppress_blank=True, suppress_tokens=[-1], return_no_speech_prob=True, return_scores=True)[0]
        tokens = result.sequences_ids[0]
        if result.no_speech_prob > _NO_SPEECH and result.scores[0] < _LOW_LOGPROB:  # score: mean log-prob
            return AsrResult(text="", language=lang)
        parts = tuple(_segments(tokens, tokenizer, len(audio) / SAMPLE_RATE))
        text = join_words(p.text for p in parts)
        if check and len(tokens) + len(tokenizer.sot_sequence) >= max_length:
            return None
        if check and looks_looped(text):
            # The commonest slip: the utterance (or its last sentence) said again. Said once, it
            # is the transcript a full-window decode gives too, without a second decode (0.6-1.2 s
            # after the endpoint on 2 cores); any other loop is decoded again.
            parts = _said_once(parts)
            text = join_words(p.text for p in parts)
            if looks_looped(text):
                return None
        return AsrResult(text=text, language=lang, segments=parts)

    def partial(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        """Fast rough transcript of the audio so far (truncated encoder window)."""
        padded = np.concatenate([audio[: _WINDOW_S * SAMPLE_RATE],
                                 np.zeros(int(_PARTIAL_PAD_S * SAMPLE_RATE), np.float32)])
        features = self.model.feature_extractor(padded)
        encoded = self._encode(features[:, : min(_WINDOW_FRAMES, features.shape[1] - features.shape[1] % 2)])
        lang = language if language != "auto" else self._detect(encoded)
        tokenizer = self._tokenizer(lang)
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        limit = len(prompt) + 8 + int(_PARTIAL_TOKENS_PER_S * len(audio) / SAMPLE_RATE)
        result = self.model.model.generate(encoded, [prompt], beam_size=1, max_length=min(limit, 224),
                                           suppress_blank=True)
        text = tokenizer.decode([t for t in result[0].sequences_ids[0] if t < tokenizer.eot]).strip()
        return AsrResult(text=to_simplified(text), language=lang)

    def _encode(self, features: np.ndarray):
        import ctranslate2

        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], np.float32))
        return self.model.model.encode(view, to_cpu=self.model.model.device == "cuda")

    def _tokenizer(self, lang: str):
        from faster_whisper.tokenizer import Tokenizer

        return Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe",
                         language=lang if self.model.model.is_multilingual else None)

    def _detect(self, encoded) -> str:
        if not self.model.model.is_multilingual:
            return "en"
        probs = self.model.model.detect_language(encoded)[0]
        for token, _ in probs:
            code = token.strip("<|>")
            if not self.languages or code in self.languages:
                return code
        return self.languages[0]


def looks_looped(text: str) -> bool:
    """A decoder caught in a loop: the same sentence twice in a row, the text ending in a block of
    words said twice, or one word four times."""
    sentences = [" ".join(m.group(0).casefold().strip(" .!?。！？,，").split()) for m in _SENTENCE.finditer(text)]
    sentences = [x for x in sentences if x]
    if any(a == b for a, b in itertools.pairwise(sentences)):
        return True
    words = re.findall(r"\w+", text.casefold())
    if any(words[-k:] == words[-2 * k:-k] for k in range(2, len(words) // 2 + 1)):
        return True
    return any(len(set(words[i:i + 4])) == 1 for i in range(len(words) - 3))


def _said_once(parts: tuple[AsrSegment, ...]) -> tuple[AsrSegment, ...]:
    """The segments with every sentence that repeats the one just before it left out (within a
    segment or across two), and a last unfinished sentence that only begins the one before again
    ("... a good story. Ah, that's"); a segment left with no words goes."""
    said: list[tuple[int, str, list[str]]] = []  # (segment, sentence, its words)
    for n, part in enumerate(parts):
        for match in _SENTENCE.finditer(part.text):
            words = re.findall(r"\w+", match.group(0).casefold())
            if words and not (said and words == said[-1][2]):
                said.append((n, match.group(0).strip(), words))
    if len(said) >= 2 and said[-1][1][-1] not in ".!?。！？" and said[-2][2][: len(said[-1][2])] == said[-1][2]:
        said.pop()
    return tuple(AsrSegment(part.start_s, part.end_s, join_words(t for m, t, _ in said if m == n))
                 for n, part in enumerate(parts) if any(m == n for m, _, _ in said))


def _segments(tokens: list[int], tokenizer, duration_s: float):
    """Split a decoded sequence at its timestamp tokens (0.02 s each) into timed segments; one in
    the audio's last _TAIL_S that repeats the first words, or one after the audio, is dropped."""
    begin, start, text_tokens, said = tokenizer.timestamp_begin, 0.0, [], []
    for token in [*tokens, None]:
        if token is None or token >= begin:
            text = tokenizer.decode(text_tokens).strip()
            time_s = duration_s if token is None else (token - begin) * 0.02
            words = re.findall(r"\w+", text.casefold())
            if text and (start >= duration_s or (start > duration_s - _TAIL_S and words == said[: len(words)])):
                _LOGGER.debug("a segment of %d characters after the speech ended dropped", len(text))
            elif text:
                said += words
                yield AsrSegment(round(start, 2), round(min(max(time_s, start), duration_s), 2), to_simplified(text))
                start = time_s
            elif token is not None:
                start = time_s
            text_tokens = []
        elif token < tokenizer.eot:
            text_tokens.append(token)
