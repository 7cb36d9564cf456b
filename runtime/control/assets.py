"""What operators' commands do with the device's files: enroll a photo (kept in memory, never on
disk), draw an avatar's contact sheet, let a voice say a sample, check that a voice exists, list
the models in use, and read the last benchmark report."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from runtime.config import LANGUAGES, AvatarConfig, Settings
from runtime.control.targets import check_targets
from runtime.core.errors import AvatarFault, ControlFault, ModelFault, SpeakFault, VoiceFault
from runtime.engines.tts import KOKORO_VOICE, is_piper_voice
from runtime.places import Places
from runtime.store.models import ModelStore
from runtime.voice import bundle as voice_bundle

SAMPLE_TEXT = {"en": "Hello! This is how I sound.", "zh": "你好！这是我的声音。"}
"""What a voice says in the console's listen button when no text is given, by language."""


@contextlib.contextmanager
def in_memory_file(data: bytes) -> Iterator[Path]:
    """A path to these bytes that lives in memory (a memfd on Linux): a visitor's photo is read by
    path without touching a disk. Elsewhere, a private temporary file deleted at once."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("edge-talker-photo")
        try:
            os.write(fd, data)
            yield Path(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="edge-talker-") as folder:
        path = Path(folder) / "photo"
        path.write_bytes(data)
        yield path


def enroll(cfg: AvatarConfig, places: Places, name: str, photo: bytes, limit: int, *, replace: bool = False) -> dict:
    """Enroll photo bytes as avatar `name` (replace: an existing one gets the new photo); the photo
    itself is not kept (unless keep_original). `warnings` tells what the operator should check."""
    from runtime.face import avatars, bundle

    if len(photo) > limit:
        raise AvatarFault("avatar-photo-too-large", f"the photo has {len(photo) / 2**20:.1f} MB, "
                          f"at most {limit / 2**20:.0f} MB are accepted", "send a smaller JPEG")
    with in_memory_file(photo) as path:
        try:
            avatars.enroll_photo_in(places, cfg, path, name, replace=replace)
        except AvatarFault as fault:
            if fault.code == "avatar-exists":  # the command line's --replace is not the operators' way
                raise AvatarFault(fault.code, fault.message, "choose another name, send it again with replace "
                                  "(avatar.enroll: \"replace\": true; POST /avatars: field replace=true), or remove "
                                  "that avatar first (avatar.remove, DELETE /avatars/{name})") from fault
            if fault.code != "avatar-bad-image":
                raise
            raise AvatarFault(fault.code, "the photo is not a readable image", fault.hint) from fault
    meta = bundle.load(places.state, name).meta
    warnings = []
    if meta.get("faces", 1) > 1:
        warnings.append({"code": "avatar-several-faces", "faces": meta["faces"],
                         "message": f"{meta['faces']} faces in the photo; the largest became the avatar",
                         "hint": "check the contact sheet; crop the photo to one person if it is the wrong one"})
    return {"name": name, "head_px": meta.get("head_px"), "yaw_deg": meta.get("yaw_deg"),
            "enroll_s": meta.get("enroll_s"), "replaced": replace, "warnings": warnings}


def enroll_voice(settings: Settings, places: Places, name: str, sample: bytes, language: str | None, *,
                 replace: bool = False, keep_alive=lambda: None) -> dict:
    """Enroll sample bytes as voice `name` (kept in memory, never on disk unless keep_sample). The
    reply states the similarity reached on the held-back speech against the nearest stock voice
    and the default, whether the voice was stored, and what to use instead when it was not."""
    from runtime.voice.enroll import enroll_file, summary

    with in_memory_file(sample) as path:
        try:
            _, meta, notices = enroll_file(settings, places, path, name, language=language, replace=replace,
                                           keep_alive=keep_alive)
        except VoiceFault as fault:
            if fault.code != "voice-exists":
                raise
            raise VoiceFault(fault.code, fault.message, "choose another name, send it again with replace "
                             "(voice.enroll / POST /voices: \"replace\": true), or remove that voice first") from fault
    return {"name": name, "stored": meta["stored"], "offer": meta["offer"], "language": meta["language"],
            "similarity": meta["similarity"], "round_trip": meta["round_trip"], "pitch_hz": meta["pitch_hz"],
            "speech_s": meta["speech_s"], "enroll_s": meta["enroll_s"], "replaced": replace and meta["stored"],
            "summary": summary(name, meta),
            "notices": [{"code": n.split(":", 1)[0], "message": n.split(":", 1)[1].strip()} for n in notices]}


def contact_sheet_jpeg(cfg: AvatarConfig, places: Places, name: str) -> bytes:
    """The avatar's key poses side by side, as JPEG (a PNG of nine 512 px tiles is 5 MB)."""
    import cv2

    from runtime.face import avatars, bundle

    bundle.check_name(name)
    sheet = avatars.contact_sheet(avatars.renderer(avatars.load_avatar_in(places, cfg, name)))
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise AvatarFault("avatar-damaged", f"the contact sheet of {name!r} cannot be encoded", "enroll it again")
    return jpeg.tobytes()


def voice_wav(engine, text: str, voice: str = "") -> bytes:
    """A voice of the engine (its own when "") saying `text`, as a 16-bit WAV file."""
    import numpy as np

    audio = [speech.audio for speech in engine.synthesize(text, voice)]
    return wav_bytes(np.concatenate(audio) if audio else np.zeros(1, np.float32), engine.sample_rate)


def wav_bytes(audio, rate: int) -> bytes:
    """Audio as a 16-bit WAV file."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def voices_in_use(settings: Settings, state: Path) -> dict[str, str]:
    """The voice in use for each language that has one ([speak.en], [speak.zh]; the enrolled
    [speak] voice, of the state directory, for its language)."""
    used = {lang: getattr(settings.speak, lang).voice for lang in LANGUAGES
            if hasattr(getattr(settings.speak, lang), "voice")}
    if voice_bundle.is_enrolled(state, settings.speak.voice):
        used[voice_bundle.language(state, settings.speak.voice)] = settings.speak.voice
    return used


def voice_patch(settings: Settings, state: Path, voice: str) -> dict:
    """The [speak] change that makes a voice speak its language: an enrolled voice (of the state
    directory) becomes [speak] voice; a stock one replaces its language's voice (and an enrolled
    voice of that language)."""
    if voice_bundle.is_enrolled(state, voice):
        return {"voice": voice}
    language = voice_language(settings, voice)
    enrolled = settings.speak.voice
    other = voice_bundle.is_enrolled(state, enrolled) and voice_bundle.language(state, enrolled) != language
    kind = "piper" if is_piper_voice(voice) else "kokoro"
    section = {"voice": voice}
    if getattr(settings.speak, language).type != kind:  # e.g. English spoken by a Kokoro stock voice
        section = {"type": kind, "voice": voice}
    return {"voice": enrolled if other else "", language: section}


def with_voice(settings: Settings, voice: str) -> Settings:
    """The settings with a voice (enrolled or stock) speaking its language (speak --voice, render --voice)."""
    from runtime.control import desired

    places = Places.of(settings.paths)
    speak = settings.speak.model_dump(mode="json")
    merged = desired.merge({"speak": speak}, {"speak": voice_patch(settings, places.state, voice)})["speak"]
    new = settings.model_copy(update={"speak": type(settings.speak).model_validate(merged)})
    if not voice_bundle.is_enrolled(places.state, voice):
        check_voice(places.models, voice, getattr(new.speak, voice_language(settings, voice)))
    return new


def voice_language(settings: Settings, voice: str) -> str:
    """Which language's voice a voice id replaces: a Kokoro voice its own language when its name
    says it (af_/am_/bf_/bm_: English, zf_/zm_: Chinese: an enrolled English voice may be offered
    a Kokoro stock voice), else that of the language read by Kokoro; a piper voice (a manifest id
    or a .onnx file) that of the language read by piper."""
    piper = is_piper_voice(voice)
    if not piper and not KOKORO_VOICE.fullmatch(voice):
        raise SpeakFault("tts-voice-unknown", f"no voice {voice!r}",
                         "`voices` lists the voices; Kokoro voices are named like zf_xiaoxiao")
    if not piper and voice[0] in _KOKORO_LANGUAGE:
        return _KOKORO_LANGUAGE[voice[0]]
    for lang in LANGUAGES:
        if getattr(settings.speak, lang).type == ("piper" if piper else "kokoro"):
            return lang
    return "en"


_KOKORO_LANGUAGE = {"a": "en", "b": "en", "z": "zh"}
"""The language a Kokoro stock voice speaks, by the first letter of its name."""


def _is_piper_voice(entry) -> bool:
    return entry.role == "tts" and any(f.name.endswith(".onnx.json") for f in entry.files)


def check_voice(store: ModelStore, voice: str, section) -> None:
    """The voice exists for the section that will read it: a piper voice of the manifest (in the
    store) or a piper .onnx file with its .json; a Kokoro voice in the section's voice folder."""
    if section.type == "kokoro":
        if not (store.locate(section.voices) / f"{voice}.bin").is_file():
            raise SpeakFault("tts-voice-unknown", f"no Kokoro voice {voice!r}", "`voices` lists the voices")
        return
    if store.known(voice):
        if not _is_piper_voice(store.manifest.get(voice)):
            raise SpeakFault("tts-voice-unknown", f"{voice} is not a piper voice", "`voices` lists the voices")
        store.resolve(voice)  # model-missing / model-corrupt with the fix
        return
    path = Path(voice).expanduser()
    if not (path.is_file() and Path(f"{path}.json").is_file()):
        raise SpeakFault("tts-voice-unknown", f"no voice {voice!r}",
                         "give a voice of `voices`, or a piper .onnx file with its .onnx.json")


def voice_list(settings: Settings, places: Places) -> list[dict]:
    """The voices an operator can pick: every piper voice of the manifest (installed or not), the
    installed Kokoro voices that fit the language of a Kokoro section and the enrolled voices."""
    from runtime.engines.tts_kokoro import ENGLISH, MANDARIN

    store = places.models

    voices = [{"id": e.id, "description": e.description, "engine": "piper", "language": voice_language(settings, e.id),
               "installed": installed(store, e)} for e in store.manifest.model if _is_piper_voice(e)]
    for lang in LANGUAGES:
        section = getattr(settings.speak, lang)
        if section.type != "kokoro":
            continue
        try:
            folder = store.locate(section.voices)
        except ModelFault:  # not installed: nothing to pick from
            continue
        for name in sorted(p.stem for p in folder.glob("*.bin")):
            if name.startswith(MANDARIN if lang == "zh" else ENGLISH):
                kind = "Mandarin" if name.startswith(MANDARIN) else "English"
                voices.append({"id": name, "description": f"Kokoro {kind} voice {name}", "engine": "kokoro",
                               "language": lang, "installed": True})
    state = places.state
    for name in voice_bundle.names(state):
        try:
            language = voice_bundle.language(state, name)
        except VoiceFault:  # listed without a language, so an operator sees it and can remove it
            language = ""
        voices.append({"id": name, "description": f"Enrolled voice {name} (matched to a person's sample)",
                       "engine": "kokoro", "language": language, "installed": True, "enrolled": True})
    return voices


def models_in_use(settings: Settings, places: Places) -> list[str]:
    """Manifest ids the running product loads (models and voices)."""
    from runtime.needed import required_models

    return sorted(required_models(settings, places, listens=settings.capture.type != "console"))


def installed(store: ModelStore, entry) -> bool:
    """Every file of a model is in the store (sizes only; `models.verify` re-hashes)."""
    return all(s.code == "ok" for s in store.check(entry, full=False))


def bench_file(settings: Settings, name: str) -> Path:
    """A file of the last benchmark report ([api] bench_dir); bench-missing when there is none."""
    path = Path(settings.api.bench_dir).expanduser() / name
    if not path.is_file():
        raise ControlFault("bench-missing", f"no benchmark report at {path}",
                           "run `edge-talker bench --out DIR` and set [api] bench_dir = DIR")
    return path


def bench_report(settings: Settings) -> dict:
    """The last end-to-end report (report.json) and where its timeline picture is."""
    path = bench_file(settings, "report.json")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ControlFault("bench-damaged", f"{path} cannot be read: {err}", "run the benchmark again") from err
    try:
        targets = [{"metric": k, "value": v, "target": t, "met": met} for k, v, t, met in check_targets(report)]
    except (AttributeError, TypeError) as err:
        raise ControlFault("bench-damaged", f"{path} is not a benchmark report: {err}", "run the benchmark again") \
            from err
    timeline = (path.parent / "timeline.png").is_file()
    return {"report": report, "targets": targets, "stages_ms": report.get("stages_ms", {}),
            "modified": path.stat().st_mtime, "timeline": "/bench/latest/timeline.png" if timeline else None}
