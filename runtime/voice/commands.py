"""`edge-talker voice enroll|list|show|remove|preview`: the command line's voice sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runtime.config import load_config
from runtime.places import Places
from runtime.voice import bundle


def main(args: argparse.Namespace) -> int:
    """Run one voice sub-command; returns the exit code."""
    settings = load_config(args.config)
    places = Places.of(settings.paths)
    state = places.state
    command = args.voice_command
    if command == "enroll":
        from runtime.voice.enroll import enroll_file

        try:
            import tempfile

            state.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=state).close()  # before a minute of work, not after it
            folder, meta, notices = enroll_file(settings, places, Path(args.sample), args.name, language=args.language,
                                                replace=args.replace, report=lambda line: print(line, flush=True))
        except OSError as err:  # a read-only or full state directory
            from runtime.core.errors import VoiceFault

            raise VoiceFault("voice-state-unwritable", f"cannot write the voice into {state}: {err.strerror}",
                             "set [paths] state or $EDGE_TALKER_STATE to a writable directory") from err
        for notice in notices:
            print(f"notice: {notice}", file=sys.stderr)
        from runtime.voice.enroll import summary

        print(summary(args.name, meta) + (f"; stored in {folder}" if folder else ""))
    elif command == "list":
        for name in bundle.names(state) or ["(none yet: `edge-talker voice enroll SAMPLE --name NAME`)"]:
            print(name)
    elif command == "show":
        print(json.dumps(bundle.load(state, args.name).meta, indent=1, ensure_ascii=False))
    elif command == "remove":
        bundle.remove(state, args.name)
        print(f"removed {args.name}")
    else:
        import soundfile

        from runtime.core.errors import VoiceFault
        from runtime.core.outputs import check_output
        from runtime.voice.enroll import preview

        check_output(args.out, (".wav",), fault=VoiceFault, prefix="voice-preview", force=args.force)
        audio, rate = preview(settings, places, args.name, args.text)
        soundfile.write(args.out, audio, rate, subtype="PCM_16")
        print(f"{args.out}: {len(audio) / rate:.2f} s at {rate} Hz")
    return 0
