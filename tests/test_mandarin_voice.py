"""The Mandarin voice: Kokoro-82M with a viseme track exact to the sample, mixed zh/en sentences,
a voice per language and persona, understood by the product's own recogniser."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from runtime import factories
from runtime.bench.avsync import envelope, mouth_opening, offset_ms
from runtime.clip import render_clip
from runtime.config import KokoroSpeak, Settings, parse_config
from runtime.core.errors import RuntimeFault
from runtime.engines import build
from runtime.engines.tts_kokoro import SAMPLE_RATE
from runtime.hardware.media import read_clip
from runtime.speech import phonemes
from runtime.speech.audio import frame_rms, to_rate
from runtime.speech.language import to_simplified
from runtime.speech.textnorm import cer
from runtime.speech.visemes import concat
from tests.conftest import run_cli

SETTINGS = Settings()
STORE = factories.model_store(SETTINGS)


@pytest.fixture(scope="module")
def kokoro():
    return build(KokoroSpeak(), STORE)


@pytest.fixture(scope="module")
def voices():
    return factories.tts_factory(SETTINGS)()


@pytest.fixture(scope="module")
def asr():
    return factories.asr_factory(SETTINGS, STORE)()


def _runs(track, viseme: str) -> int:
    """Number of maximal runs of one viseme class."""
    names = [v == viseme for v in track.visemes]
    return sum(1 for i, hit in enumerate(names) if hit and (i == 0 or not names[i - 1]))


def test_track_tiles_the_audio_exactly_in_chinese_english_and_mixed(kokoro):
    for text in ("洗手间在一楼电梯旁边。", "The restroom is next to the lift.", "欢迎来到Science Museum，请往这边走。"):
        pieces = list(kokoro.synthesize(text))
        assert pieces and all(p.sample_rate == SAMPLE_RATE for p in pieces)
        for piece in pieces:
            starts, lengths = piece.track.spans[:, 0], piece.track.spans[:, 1]
            assert piece.track.num_samples == len(piece.audio) > SAMPLE_RATE // 2
            assert starts[0] == 0 and np.all(starts[1:] == np.cumsum(lengths)[:-1]) and np.all(lengths > 0)
            assert piece.track.visemes[0] == piece.track.visemes[-1] == "sil", "speech starts and ends at rest"


def test_the_lips_close_for_each_chinese_bilabial(kokoro):
    # 爸爸买面包: b, b, m, m, b -> five closures, each pressing the lips shut.
    track = concat([p.track for p in kokoro.synthesize("爸爸买面包。")])
    assert _runs(track, "PP") == 5, track.visemes
    assert all(row[3] == 1.0 for row, v in zip(track.targets, track.visemes, strict=True) if v == "PP")
    # Positive control: 大家都好 has no bilabial at all.
    assert _runs(concat([p.track for p in kokoro.synthesize("大家都好。")]), "PP") == 0


def test_pauses_in_the_track_are_silent_in_the_audio_and_speech_is_not(kokoro):
    piece = next(kokoro.synthesize("您好，洗手间在二楼，电梯旁边。"))
    peak = frame_rms(piece.audio, 120).max()
    judged = 0
    for (start, length), viseme in zip(piece.track.spans, piece.track.visemes, strict=True):
        if length < 2400:  # judge entries of 100 ms and more
            continue
        judged += 1
        loudest = frame_rms(piece.audio[start:start + length], 120).max()
        if viseme == "sil":
            assert loudest < 0.05 * peak, f"a pause at {start / SAMPLE_RATE:.2f} s is loud"
        else:
            assert loudest > 0.05 * peak, f"{viseme} at {start / SAMPLE_RATE:.2f} s is silent"
    assert judged >= 4


def test_chinese_speech_is_understood_by_the_recogniser_in_simplified_characters(voices, asr):
    sentences = ["请问洗手间在哪里？", "博物馆每天早上九点开门。", "儿童票是免费的。", "纪念品商店在出口旁边。"]
    heard = []
    for text in sentences:
        audio = np.concatenate([p.audio for p in voices.synthesize(text)])
        result = asr.transcribe(to_rate(audio, voices.sample_rate), "auto")
        assert result.language == "zh"
        assert to_simplified(result.text) == result.text, f"traditional characters in {result.text!r}"
        heard.append(result.text)
    # Whisper base confuses a few homophones (儿童 -> 而同): the round trip is judged as a whole.
    assert cer("".join(sentences), "".join(heard)) <= 0.1, heard


def test_english_words_inside_chinese_are_spoken_not_dropped(voices, asr):
    say = phonemes.Phonemizer()
    mixed = say("欢迎来到Science Museum")
    assert "sˈIəns" in mixed and "Science" not in mixed, mixed
    audio = np.concatenate([p.audio for p in voices.synthesize("欢迎来到Science Museum。")])
    heard = asr.transcribe(to_rate(audio, voices.sample_rate), "auto").text.lower()
    assert "science" in heard and "欢迎" in heard, heard


def test_numbers_codes_and_emoji_are_read_as_people_read_them():
    say = phonemes.Phonemizer()
    assert say("电话13800138000") == say("电话一三八零零一三八零零零"), "a phone number digit by digit"
    assert say("门票60元") == say("门票六十元"), "a price as a number"
    assert say("号码０１２３４５６７８９") == say("号码零一二三四五六七八九"), "full-width digits as digits"
    assert say("号码٣٤٥٦٧٨٩").startswith(say("号码")), "digits of another script are no crash (KeyError before)"
    assert say("你好🙂！") == say("你好！"), "emoji are not read aloud"
    assert say("🙂") == ""


def test_first_clause_of_a_long_sentence_is_synthesized_first():
    pieces = list(phonemes.pieces("欢迎您来到科学博物馆，洗手间在二楼电梯旁边。我们五点关门。", 8))
    assert pieces == ["欢迎您来到科学博物馆，", "洗手间在二楼电梯旁边。", "我们五点关门。"]
    assert list(phonemes.pieces("你好，请进。", 8)) == ["你好，请进。"], "a short sentence stays whole"


def test_a_long_first_sentence_without_a_comma_is_cut_between_two_words():
    """Kokoro took 1.1-1.3 s for this answer's first sentence whole, its first sound waiting all
    that time; its first words take about half."""
    sentence = "这是一句有关宇宙和皇权的句子。"
    pieces = list(phonemes.pieces(sentence, 2))
    assert pieces == ["这是一句", "有关宇宙和皇权的句子。"]
    assert list(phonemes.pieces(sentence + "我们五点关门。", 2))[:2] == pieces, "only the first sentence"
    assert list(phonemes.pieces("你正在输入号码", 2)) == ["你正在输入号码"], "a short sentence stays whole"
    assert list(phonemes.pieces(sentence, 0)) == [sentence], "no first cut asked for"
    assert list(phonemes.pieces("零一二三四五六七八九。", 2)) == ["零一二", "三四五六七八九。"], \
        "a long number starts with its first group of three"
    assert list(phonemes.pieces("一二三四五六。", 2)) == ["一二三四五六。"], "a short one stays whole"
    english = "This is a long English sentence without any commas at all in it."
    assert list(phonemes.pieces(english, 2)) == [english]


def test_by_default_the_voice_starts_with_a_short_greeting_clause_alone(kokoro):
    """The first audio of "你好，欢迎光临。" is 你好 alone (Kokoro takes ~0.6 s of a busy CPU per
    second of speech: the rest is synthesized while 你好 plays)."""
    first = next(iter(kokoro.synthesize("你好，欢迎光临。")))
    assert first.text == "你好，" and len(first.audio) / first.sample_rate < 1.2


def test_each_chunk_is_read_by_the_voice_of_its_language_at_one_rate(voices):
    chinese = list(voices.synthesize("洗手间在二楼。"))
    english = list(voices.synthesize("The restroom is on the second floor."))
    assert voices.voice("zh").engine is not voices.voice("en").engine
    for piece in chinese + english:
        assert piece.sample_rate == voices.sample_rate == 22050
        assert piece.track.num_samples == len(piece.audio)
    assert voices.voice("zh").name == "zf_xiaoxiao" and voices.voice("en").engine.languages == ("en",)


def test_a_number_alone_in_a_chinese_answer_is_read_in_mandarin(voices, asr):
    """A Mandarin visitor said their number and the model answered "0123456789" alone: the chunk,
    written in no script, went to the English voice ("zero one two ..."). The answer's language
    reads it, in Mandarin digits (the Mandarin voice's front end takes text without a Chinese
    character for English); words still decide their own voice."""
    def said(text: str, language: str) -> tuple[list[str], str]:
        pieces = list(voices.synthesize(text, "", language))
        audio = np.concatenate([p.audio for p in pieces])
        return [p.text for p in pieces], asr.transcribe(to_rate(audio, voices.sample_rate), "auto").language

    read, heard = said("0123456789", "zh")
    assert "".join(read) == "零一二三四五六七八九" and heard == "zh", (read, heard)
    assert said("60", "zh")[0] == ["六十"], "a number that is not a code is read by its value"
    assert said("0123456789", "")[1] == "en", "without the answer's language a number is read in English"
    assert said("The number is 0123456789.", "zh")[1] == "en", "English words keep the English voice"


def test_a_persona_pins_its_own_voice_per_language():
    settings = parse_config('[personas.guide]\nname = "Mia"\nsystem_prompt = "You are Mia."\n'
                            '[personas.guide.voices]\nzh = "zm_yunxi"\n'
                            '[personas.host]\nname = "Li"\nsystem_prompt = "You are Li."\n')
    voices = factories.tts_factory(settings)()
    pinned, default = voices.voice("zh", "guide"), voices.voice("zh", "host")
    assert (pinned.name, default.name) == ("zm_yunxi", "zf_xiaoxiao")
    assert pinned.engine is default.engine, "one Kokoro model serves every Kokoro voice"
    male = np.concatenate([p.audio for p in voices.synthesize("您好。", "guide")])
    female = np.concatenate([p.audio for p in voices.synthesize("您好。", "host")])
    assert not np.array_equal(male[:2000], female[:2000])


def test_chinese_clip_is_lip_synced_measured_from_the_output(tmp_path):
    clip = render_clip(SETTINGS, tmp_path / "zh.mp4", text="欢迎来到科学博物馆。洗手间在二楼，电梯旁边。")
    frames, fps, audio, rate = read_clip(clip.path)
    offset = offset_ms(mouth_opening(frames, clip.mouth_region), envelope(audio, rate, fps, len(frames)), fps)
    assert abs(offset) <= 40, f"audio-visual offset {offset:.1f} ms"
    assert abs(len(frames) / fps - clip.duration_s) <= 1 / fps + 1e-6


def test_broken_kokoro_files_get_codes(tmp_path, kokoro):
    model_dir = STORE.resolve("tts-kokoro")
    voices_dir = STORE.resolve("tts-kokoro-voices")
    # The model as published has no durations output: refused, since its speech cannot be lip-synced.
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "kokoro-v1.0.int8.durations.onnx").symlink_to(model_dir / "kokoro-v1.0.int8.onnx")
    (plain / "vocab.json").symlink_to(model_dir / "vocab.json")
    cases = [(KokoroSpeak(model=str(plain)), "tts-voice-invalid"),
             (KokoroSpeak(voice="zf_nobody"), "tts-voice-unknown"),
             (KokoroSpeak(model=str(tmp_path / "missing")), "tts-voice-missing")]
    short = tmp_path / "voices"
    shutil.copytree(voices_dir, short)
    (short / "zf_xiaoxiao.bin").write_bytes(b"\x00" * 1000)
    cases.append((KokoroSpeak(voices=str(short)), "tts-voice-invalid"))
    for section, code in cases:
        with pytest.raises(RuntimeFault) as info:
            build(section, STORE)
        assert info.value.code == code and info.value.hint, (section, info.value)
    with pytest.raises(RuntimeFault) as info:
        list(kokoro.synthesize("你好", "zm_nobody"))
    assert info.value.code == "tts-voice-unknown" and "zm_yunxi" in info.value.hint


def test_speak_cli_says_mixed_chinese_and_english(tmp_path):
    import json

    import soundfile

    out, track = tmp_path / "zh.wav", tmp_path / "zh.json"
    done = run_cli("speak", "欢迎！The cafe is on floor 1. 咖啡厅在一楼。", "--out", str(out), "--visemes", str(track))
    assert done.returncode == 0, done.stderr
    audio, rate = soundfile.read(str(out))
    data = json.loads(track.read_text(encoding="utf-8"))
    assert rate == data["sample_rate"] == 22050 and len(audio) > rate * 2
    assert sum(row["samples"] for row in data["track"]) == len(audio)
