"""One stage of the product on the command line: transcribe a file, reply to text, speak it,
render a talking clip, run a benchmark."""

from __future__ import annotations

import argparse

from runtime.core.errors import ThinkFault


def transcribe(args: argparse.Namespace) -> int:
    """`edge-talker transcribe FILE`: the file's words, utterance by utterance."""
    import json

    from runtime import factories
    from runtime.config import load_config
    from runtime.engines.transcribe import transcribe_file
    from runtime.speech.audio import read_audio

    settings = load_config(args.config)
    read_audio(args.file, report=False)  # refuse a bad file before loading any model
    listen = settings.listen
    vad = factories.vad_factory(settings)(threshold=listen.threshold, min_silence_s=listen.min_silence_s,
                                         min_speech_s=listen.min_speech_s, max_speech_s=listen.max_utterance_s)
    result = transcribe_file(args.file, factories.asr_factory(settings)(), vad, args.language or listen.language)
    print(json.dumps(result.as_dict(), ensure_ascii=False) if args.json else result.text)
    return 0


def reply(args: argparse.Namespace) -> int:
    """`edge-talker reply TEXT`: the persona's answer, streamed as it is made."""
    import json

    from runtime import factories
    from runtime.config import load_config

    settings = load_config(args.config)
    if args.persona and args.persona not in settings.personas:
        raise ThinkFault("think-unknown-persona", f"no persona {args.persona!r}",
                           f"use one of: {', '.join(sorted(settings.personas))}")
    if not args.text.strip():
        raise ThinkFault("think-empty-input", "nothing to answer: the text is empty", "pass the visitor's words")
    dialogue = factories.dialogue_factory(settings, persona=args.persona)()
    for chunk in dialogue.reply(args.text):
        if args.json:
            print(json.dumps({"text": chunk.text, "emotion": chunk.emotion, "intensity": chunk.intensity,
                              "t_ms": round(chunk.t_ms, 1)}, ensure_ascii=False), flush=True)
        else:
            print(chunk.text, flush=True)
    return 0


def speak(args: argparse.Namespace) -> int:
    """`edge-talker speak TEXT`: speech (and its viseme track) to a file or the speaker."""
    from pathlib import Path

    import numpy as np
    import soundfile

    from runtime import factories
    from runtime.config import load_config
    from runtime.core.errors import SpeakFault
    from runtime.core.outputs import check_output
    from runtime.speech.visemes import concat

    check_output(args.out, (".wav",), fault=SpeakFault, prefix="speak", force=args.force)
    if args.visemes:
        check_output(args.visemes, (".json",), fault=SpeakFault, prefix="speak-visemes", option="--visemes",
                     force=args.force)
    settings = load_config(args.config)
    if args.voice:
        from runtime.control.assets import with_voice

        settings = with_voice(settings, args.voice)
    engine = factories.tts_factory(settings)()
    pieces = list(engine.synthesize(args.text))
    audio = np.concatenate([p.audio for p in pieces])
    soundfile.write(args.out, audio, engine.sample_rate, subtype="PCM_16")
    if args.visemes:
        Path(args.visemes).write_text(concat([p.track for p in pieces]).as_json(), encoding="utf-8")
    print(f"{args.out}: {len(audio) / engine.sample_rate:.2f} s at {engine.sample_rate} Hz")
    return 0


def render(args: argparse.Namespace) -> int:
    """`edge-talker render`: a talking clip from text or audio."""
    from runtime.clip import check_output, render_clip
    from runtime.config import load_config

    settings = load_config(args.config)
    if args.voice:
        from runtime.control.assets import with_voice

        settings = with_voice(settings, args.voice)
    check_output(args.out, args.fps, force=args.force)
    from runtime.core.limits import MAX_RENDER_TEXT_CHARS

    if args.text is not None and len(args.text) > MAX_RENDER_TEXT_CHARS:
        from runtime.core.errors import RenderFault

        raise RenderFault("render-text-too-long", f"--text has {len(args.text)} characters, at most "
                          f"{MAX_RENDER_TEXT_CHARS} are rendered in one clip", "split it into several clips")
    if args.audio:
        from runtime.speech.audio import read_audio

        read_audio(args.audio, report=False)  # a bad file is refused before anything else loads
    clip = render_clip(settings, args.out, text=args.text, audio_path=args.audio, avatar=args.avatar, fps=args.fps,
                       force=args.force, seed=args.seed)
    print(f"{clip.path}: {clip.duration_s:.2f} s, {clip.frames} frames at {clip.fps} fps, "
          f"rendered in {clip.render_s:.2f} s ({clip.duration_s / clip.render_s:.1f}x real time)")
    return 0


def bench(args: argparse.Namespace) -> int:
    """`edge-talker bench [NAME]`: a benchmark's numbers and report."""
    from importlib import import_module
    from pathlib import Path

    from runtime.config import load_config

    stage = import_module(f"runtime.bench.{args.stage}")
    extra = ({"config": args.config, "verbose": bool(getattr(args, "verbose", False)), "record": args.record}
             if args.stage == "e2e"
             else {"turns": args.turns} if args.stage == "soak" else {})
    stage.run(Path(args.out) if args.out else None, load_config(args.config), **extra)
    return 0

