"""Kokoro-82M v1.0 (int8 ONNX, 24 kHz): Mandarin and English voices with a viseme track exact to
the sample.

The store's model carries a second output, `durations` (frames per input token, added at fetch
time: runtime/store/convert.py); one frame is exactly HOP samples, so the tokens' durations tile
the audio. Three corrections make the track match what is heard (measured on 7 voices, zh and
en, speeds 0.8-1.3): the audio leads the predicted durations by 2-2.5 frames, so every boundary
moves TRACK_SHIFT earlier; the model gives most of a pause to the phoneme before it, so each
speech/pause boundary is snapped to the audio's silence; and the pads' long silences are trimmed.
Samples only move between neighbouring entries, so the tiling stays exact.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from runtime.core.errors import SpeakFault
from runtime.core.section import Backend
from runtime.engines.tts import Speech, check_speakable
from runtime.speech import phonemes
from runtime.speech.visemes import Viseme, from_entries, merge
from runtime.store.convert import DURATIONS
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
HOP = 600
"""Samples per duration frame (len(audio) == HOP * sum(durations), checked on every call)."""
TRACK_SHIFT = 1440
"""The audio leads the predicted durations by about 60 ms: boundaries move this much earlier (samples)."""
MAX_IDS = 510
"""Phoneme ids per model call (the voice tables have a style row per length, 0..509)."""
STYLE_DIM = 256
SILENCE_DB = -40.0
"""A 5 ms block this far below the piece's loudest counts as silent."""
STEP = 120
"""Analysis block for pause fitting and trimming (5 ms)."""
LEAD_S, TAIL_S = 0.1, 0.25
"""Silence kept before and after each piece (seconds); the model's pads hold ~0.45 s and more."""
MANDARIN = ("zf_", "zm_")
"""Voice name prefixes of the Mandarin voices."""
ENGLISH = ("af_", "am_", "bf_", "bm_")
"""... of the US and British English voices (the others speak Spanish, French, Hindi, Italian,
Japanese or Portuguese: not offered, but voice matching blends them too)."""


class KokoroSpeak(Backend):
    """[speak.<language>] type = "kokoro": Kokoro-82M (Mandarin and English), 24 kHz."""

    type: Literal["kokoro"] = "kokoro"
    model: str = Field("tts-kokoro",
        description="Model id from models/manifest.toml or a directory with the durations model and vocab.json.")
    voices: str = Field("tts-kokoro-voices",
        description="Model id or directory of the voice files (<name>.bin).")
    voice: str = Field("zf_xiaoxiao",
        description="Voice: zf_xiaobei, zf_xiaoni, zf_xiaoxiao, zf_xiaoyi, zm_yunjian, zm_yunxi, zm_yunxia, "
                    "zm_yunyang (Mandarin); af_heart, af_bella, af_sarah, am_adam, am_michael ... (US English: "
                    "af_*, am_*; British: bf_*, bm_*).")
    speed: float = Field(1.0, ge=0.5, le=2, description="Speaking rate: >1 faster, <1 slower.")
    threads: int = Field(2, ge=1, le=64, description="CPU threads for synthesis.")
    volume: float = Field(1.0, gt=0, le=4, description="Loudness multiplier.")
    first_clause_units: float = Field(2.0, ge=0, le=100,
        description="The first sentence of a chunk is synthesized in two parts, cut after its first clause "
                    "at least this long (CJK characters; a word counts 1.5, a digit 1), so the first audio comes "
                    "sooner; 0 = whole sentences.")


def create(cfg: KokoroSpeak, store: ModelStore) -> KokoroEngine:
    """The engine for a [speak.<language>] type = "kokoro" section."""
    folder = store.locate(cfg.model)
    model = folder / "kokoro-v1.0.int8.durations.onnx" if folder.is_dir() else folder
    vocab = (folder if folder.is_dir() else folder.parent) / "vocab.json"
    return KokoroEngine(model, vocab, store.locate(cfg.voices), voice=cfg.voice, speed=cfg.speed,
                        threads=cfg.threads, volume=cfg.volume, first_clause_units=cfg.first_clause_units)


class KokoroEngine:
    """One Kokoro model with every voice of its voice folder; not thread-safe (one actor uses it)."""

    sample_rate = SAMPLE_RATE
    languages = ("zh", "en")

    def __init__(self, model: Path, vocab: Path, voices: Path, *, voice: str = "zf_xiaoxiao", speed: float = 1.0,
                 threads: int = 2, volume: float = 1.0, first_clause_units: float = 2.0) -> None:
        import onnxruntime as ort

        for path in (model, vocab, voices):
            if not Path(path).exists():
                raise SpeakFault("tts-voice-missing", f"no Kokoro file {path}",
                                 "run `edge-talker models fetch tts-kokoro tts-kokoro-voices`, or fix "
                                 "[speak.zh] model and voices")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads would take the CPU from the LLM, which decodes at the same time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Give the activations of each call back to the system (about 150 MB for a long sentence).
        self.run_options = ort.RunOptions()
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        try:
            self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            self.vocab: dict[str, int] = json.loads(Path(vocab).read_text(encoding="utf-8"))["vocab"]
        except Exception as err:
            raise SpeakFault("tts-voice-invalid", f"cannot load Kokoro from {model}: {type(err).__name__}: {err}",
                             "`edge-talker models verify tts-kokoro` checks the store's copy") from err
        outputs = [o.name for o in self.session.get_outputs()]
        if DURATIONS not in outputs:
            raise SpeakFault("tts-voice-invalid", f"{Path(model).name} has no `{DURATIONS}` output (it has "
                             f"{', '.join(outputs)}), so its speech cannot be lip-synced exactly",
                             "use the store's model (`edge-talker models fetch tts-kokoro` adds the output)")
        self.voices_dir = Path(voices)
        self._styles: dict[str, np.ndarray] = {}
        self.voice = voice
        self._style(voice)  # refuse a missing voice now, not at the first answer
        self.speed = speed
        self.volume = volume
        self.first_clause_units = first_clause_units
        self.phonemize = phonemes.Phonemizer()

    def has_voice(self, name: str) -> bool:
        """True for a voice file of this model's voice folder, or a voice added with add_voice()."""
        return not name or name in self._styles or (self.voices_dir / f"{name}.bin").is_file()

    def add_voice(self, name: str, style: np.ndarray) -> None:
        """Speak as `name` with this style tensor ([510, 256]: an enrolled voice, runtime.voice)."""
        style = np.asarray(style, np.float32).reshape(-1)
        if style.size != MAX_IDS * STYLE_DIM:
            raise SpeakFault("tts-voice-invalid", f"voice {name!r} holds {style.size} floats, expected "
                             f"{MAX_IDS} x {STYLE_DIM}", f"enroll {name} again")
        self._styles[name] = style.reshape(MAX_IDS, STYLE_DIM)

    def forget_voice(self, name: str) -> None:
        """Let a voice's style go (it is read again from its file when needed); never the engine's own."""
        if name != self.voice:
            self._styles.pop(name, None)

    def style(self, name: str) -> np.ndarray:
        """The style tensor [510, 256] of a voice (stock or added)."""
        return self._style(name)

    def audio_with_style(self, text: str, style: np.ndarray) -> np.ndarray:
        """Audio (24 kHz) of text spoken with a style tensor, without a track (voice matching)."""
        style = np.asarray(style, np.float32)
        parts = [self._run(ids, symbols, style)[0] for piece in phonemes.pieces(text)
                 for ids, symbols in self._batches(self.phonemize(piece))]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def synthesize(self, text: str, voice: str = "") -> Iterator[Speech]:
        """Speech per sentence (the first one cut after a clause, for an early start); refuses text
        with nothing to say."""
        check_speakable(text, self.languages)
        style = self._style(voice or self.voice)
        for piece in phonemes.pieces(text, self.first_clause_units):
            for ids, symbols in self._batches(self.phonemize(piece)):
                audio, entries = self._run(ids, symbols, style)
                if len(audio):
                    yield Speech(audio, SAMPLE_RATE, from_entries(entries, SAMPLE_RATE), piece.strip())

    def _style(self, name: str) -> np.ndarray:
        if name not in self._styles:
            path = self.voices_dir / f"{name}.bin"
            if not path.is_file():
                known = sorted(p.stem for p in self.voices_dir.glob("*.bin"))
                raise SpeakFault("tts-voice-unknown", f"no Kokoro voice {name!r} in {self.voices_dir}",
                                 f"use one of: {', '.join(known) or '(none: run `edge-talker models fetch`)'}")
            data = np.fromfile(path, dtype=np.float32)
            if data.size != MAX_IDS * STYLE_DIM:
                raise SpeakFault("tts-voice-invalid", f"{path.name} holds {data.size} floats, expected "
                                 f"{MAX_IDS} x {STYLE_DIM}", "`edge-talker models verify` checks the store's copy")
            self._styles[name] = data.reshape(MAX_IDS, STYLE_DIM)
        return self._styles[name]

    def _batches(self, text_phonemes: str) -> Iterator[tuple[list[int], list[str]]]:
        """Model calls for one piece: ids and their symbols, at most MAX_IDS each (a long piece is
        cut at the last word boundary that fits)."""
        symbols = [c for c in text_phonemes if c in self.vocab]
        while symbols:
            cut = len(symbols)
            if cut > MAX_IDS:
                spaces = [i for i, c in enumerate(symbols[:MAX_IDS]) if c == " "]
                cut = spaces[-1] + 1 if spaces else MAX_IDS
            batch, symbols = symbols[:cut], symbols[cut:]
            if any(c.strip() for c in batch):
                yield [self.vocab[c] for c in batch], batch

    def _run(self, ids: list[int], symbols: list[str], style: np.ndarray) -> tuple[np.ndarray, list]:
        audio, durations = self.session.run(None, {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": style[min(len(ids), MAX_IDS - 1)][None],
            "speed": np.array([self.speed], dtype=np.float32)}, self.run_options)
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        samples = [int(d) * HOP for d in np.asarray(durations).reshape(-1)]
        if sum(samples) != len(audio) or len(samples) != len(ids) + 2:
            raise SpeakFault("tts-voice-invalid", f"durations ({len(samples)} tokens, {sum(samples)} samples) do "
                             f"not tile the audio ({len(ids) + 2} tokens, {len(audio)} samples)",
                             "the model is not Kokoro-82M v1.0 with its durations output; run "
                             "`edge-talker models fetch tts-kokoro`")
        shift = min(TRACK_SHIFT, samples[0] - HOP)
        if shift > 0:
            samples[0] -= shift
            samples[-1] += shift
        entries = merge(list(zip(["^", *symbols, "$"], samples, strict=True)))
        silent = silent_blocks(audio)
        audio, entries = trim(audio, fit_pauses(entries, silent), silent)
        if self.volume != 1.0:
            audio = np.clip(audio * self.volume, -1.0, 1.0)
        return audio, entries


def silent_blocks(audio: np.ndarray) -> np.ndarray:
    """One flag per STEP samples (the last block may be partial): below SILENCE_DB from the loudest."""
    count = -(-len(audio) // STEP)
    padded = np.zeros(count * STEP, np.float32)
    padded[: len(audio)] = audio
    level = np.sqrt(np.mean(padded.reshape(count, STEP) ** 2, axis=1)) + 1e-10
    return 20 * np.log10(level / level.max()) < SILENCE_DB


def fit_pauses(entries: list[tuple[Viseme, int]], silent: np.ndarray) -> list[tuple[Viseme, int]]:
    """Move each speech/pause boundary earlier (only) to where the sound agrees: a speech -> pause
    boundary back while the audio before it is silent, a pause -> speech one back while it is loud;
    each entry keeps at least half a frame."""
    out = [list(e) for e in entries]
    end = 0
    for i in range(1, len(out)):
        end += out[i - 1][1]
        left_pause = out[i - 1][0] == Viseme.SIL
        if left_pause == (out[i][0] == Viseme.SIL):
            continue
        floor, boundary = end - out[i - 1][1] + HOP // 2, end
        while boundary > floor and silent[(boundary - 1) // STEP] != left_pause:
            boundary = max(floor, (boundary - 1) // STEP * STEP)
        out[i - 1][1] -= end - boundary
        out[i][1] += end - boundary
        end = boundary
    return [(v, n) for v, n in out if n > 0]


def trim(audio: np.ndarray, entries: list[tuple[Viseme, int]], silent: np.ndarray,
         lead: int = int(LEAD_S * SAMPLE_RATE), tail: int = int(TAIL_S * SAMPLE_RATE)):
    """Cut the leading pause to `lead` and the trailing one to `tail` samples, removing only silent
    blocks inside the first and last pause entries."""
    out = [list(e) for e in entries]
    if not out or silent.all():
        return audio, entries
    head = 0
    if out[0][0] == Viseme.SIL:
        head = max(0, min(int(np.argmin(silent)) * STEP, out[0][1]) - lead)
        out[0][1] -= head
    loud = np.nonzero(~silent)[0]
    quiet_tail = max(0, len(audio) - int(loud[-1] + 1) * STEP)
    pause_tail = out[-1][1] if out[-1][0] == Viseme.SIL else 0
    cut = max(0, min(quiet_tail, pause_tail) - tail)
    out[-1][1] -= cut
    return audio[head: len(audio) - cut], [(v, n) for v, n in out if n > 0]
