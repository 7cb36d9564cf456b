"""The several-speakers check of voice samples, measured on the store's real recordings: every
single-speaker sample must pass it (no false refusal) and every sample of two people must not.

Per row: the speech after VAD (seconds), the two statistics of runtime.voice.sample (the 2-means
groups' d-vector similarity and the smaller group's share; the change ratio and where it is) and
the verdict against the thresholds. Single speakers: the readers of the speech-human assets (Dickens
in several excerpts, Beckett, the clone-test speaker), each person of pyannote's conversation alone
(its RTTM, overlaps left out) and the speech-samples clips. Two people: pyannote's conversation as
it is, and samples made of one reader followed by another.

Run: `python -m runtime.bench.several` (about a minute; the models from the store).
"""

from __future__ import annotations

import numpy as np

from runtime.core.paths import models_dir
from runtime.engines.speaker_dvector import SpeakerEmbedder
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.store.models import ModelStore
from runtime.voice import sample as checks

ASSETS = ("speech-human", "speech-conversation", "speech-samples", "speaker-embedder", "vad-silero")


def speech_of(store: ModelStore, audio: np.ndarray) -> np.ndarray:
    """The speech of a recording as enrollment keeps it (the same VAD settings)."""
    from runtime.engines.vad_silero import SileroVad

    vad = SileroVad(store.path("vad-silero", "silero_vad.onnx"), min_silence_s=0.3, max_speech_s=30)
    vad.accept(audio)
    segments = vad.flush()
    return np.concatenate([s.samples for s in segments]) if segments else np.zeros(0, np.float32)


def conversation_turns(store: ModelStore) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """pyannote's conversation and each of its two people alone (their turns by the RTTM, without
    the stretches where the other one speaks too)."""
    folder = store.model_dir("speech-conversation")
    audio = read_audio(folder / "sample.wav")
    turns: dict[str, list[tuple[float, float]]] = {}
    for line in (folder / "sample.rttm").read_text().splitlines():
        fields = line.split()
        turns.setdefault(fields[7], []).append((float(fields[3]), float(fields[3]) + float(fields[4])))
    alone = {}
    for who, own in turns.items():
        others = [t for name, spans in turns.items() if name != who for t in spans]
        pieces = []
        for start, end in own:
            parts = [(start, end)]
            for o_start, o_end in others:
                parts = [p for a, b in parts for p in ((a, min(b, o_start)), (max(a, o_end), b)) if p[1] - p[0] > 0.2]
            pieces += parts
        alone[who] = np.concatenate([audio[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)] for a, b in pieces])
    return audio, alone


def cases(store: ModelStore) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(single-speaker samples, samples of two people, samples of two people the check is known to
    miss), as speech."""
    rate = SAMPLE_RATE
    human = store.model_dir("speech-human")
    dickens = speech_of(store, read_audio(human / "two_cities.wav"))
    clone = speech_of(store, read_audio(human / "clone-test.wav"))
    beckett = speech_of(store, read_audio(human / "beckett.wav"))
    conversation, alone = conversation_turns(store)
    first, second = (speech_of(store, alone[k]) for k in sorted(alone))
    single = {"dickens 0-8 s": dickens[: 8 * rate], "dickens 0-20 s": dickens[: 20 * rate],
              "dickens 10-30 s": dickens[10 * rate: 30 * rate], "dickens last 15 s": dickens[-15 * rate:],
              "beckett": beckett, "clone-test": clone,
              "conversation, 1st person alone": first, "conversation, 2nd person alone": second}
    for path in sorted(store.model_dir("speech-samples").glob("*.wav")):
        single[path.stem] = speech_of(store, read_audio(path))
    two = {"conversation (as recorded)": speech_of(store, conversation)[: int(checks.MAX_SPEECH_S * rate)],
           "dickens 6 s + clone-test 3 s": np.concatenate([dickens[: 6 * rate], clone[: 3 * rate]]),
           "clone-test 3 s + dickens 6 s": np.concatenate([clone[: 3 * rate], dickens[6 * rate: 12 * rate]]),
           "dickens 6 s + conversation's 2nd 3 s": np.concatenate([dickens[: 6 * rate], second[: 3 * rate]]),
           "dickens 5 s + conversation's 2nd 5 s": np.concatenate([dickens[: 5 * rate], second[: 5 * rate]])}
    # The conversation's two people are alike to the d-vector (one telephone line); with only 3 s of
    # the second the change is below CHANGE_RATIO. Dickens's and Beckett's readers (if they are two
    # people: d-vector similarity 0.73 of 6 s each, against 0.85-0.95 within each) are alike too.
    limits = {"conversation's 1st 6 s + 2nd 3 s": np.concatenate([first[: 6 * rate], second[: 3 * rate]]),
              "dickens 6 s + beckett 3 s": np.concatenate([dickens[: 6 * rate], beckett[: 3 * rate]])}
    return single, two, limits


def judge(speech: np.ndarray, embedder: SpeakerEmbedder) -> dict:
    """Both statistics of the check and whether it refuses."""
    apart, share = checks.speaker_split(speech, embedder)
    ratio, at_s = checks.speaker_change(speech, embedder)
    return {"speech_s": round(len(speech) / SAMPLE_RATE, 1), "groups_cos": round(apart, 2), "share": round(share, 2),
            "change_ratio": round(ratio, 2), "change_at_s": round(at_s, 1),
            "refused": bool(checks.several_speakers(speech, embedder))}


def run() -> dict:
    """Print and return the table."""
    store = ModelStore(models_dir())
    store.require(list(ASSETS))
    embedder = SpeakerEmbedder(store.path("speaker-embedder", "embedder.int8.onnx"))
    single, two, limits = cases(store)
    rows = {"one person": {k: judge(v, embedder) for k, v in single.items()},
            "two people": {k: judge(v, embedder) for k, v in two.items()},
            "two people, known misses": {k: judge(v, embedder) for k, v in limits.items()}}
    print(f"thresholds: groups cos < {checks.SEVERAL_COS} with share >= {checks.MIN_OTHER_SHARE}, "
          f"or change ratio >= {checks.CHANGE_RATIO} ({checks.CHANGE_SIDE_S:g} s each side)")
    for kind, table in rows.items():
        print(f"\n{kind}:")
        for name, row in table.items():
            ratio = f"{row['change_ratio']:.2f} at {row['change_at_s']:.1f} s" if row["change_ratio"] else "(too short)"
            print(f"  {name:38s} {row['speech_s']:5.1f} s  groups {row['groups_cos']:.2f}/{row['share']:.2f}  "
                  f"change {ratio:18s} {'REFUSED' if row['refused'] else 'accepted'}")
    return rows


if __name__ == "__main__":
    run()
