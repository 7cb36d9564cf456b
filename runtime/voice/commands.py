"""`edge-talker voice enroll|list|show|remove|preview`: the command line's voice sub-commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.verbs import Verbs, run
from runtime.voice import bundle

if TYPE_CHECKING:
    from runtime.places import Places


def _enroll(settings, places: Places, args: argparse.Namespace) -> str:
    from runtime.voice.enroll import enroll_file, summary

    folder, meta, notices = enroll_file(settings, places, Path(args.sample), args.name, language=args.language,
                                        replace=args.replace, report=lambda line: print(line, flush=True))
    for notice in notices:
        print(f"notice: {notice}", file=sys.stderr)
    return summary(args.name, meta) + (f"; stored in {folder}" if folder else "")


def _preview(settings, places: Places, args: argparse.Namespace) -> str:
    import soundfile

    from runtime.voice.enroll import preview

    audio, rate = preview(settings, places, args.name, args.text)
    soundfile.write(args.out, audio, rate, subtype="PCM_16")
    return f"{args.out}: {len(audio) / rate:.2f} s at {rate} Hz"


VERBS = Verbs(bundle.VOICES, "(none yet: `edge-talker voice enroll SAMPLE --name NAME`)", _enroll,
              lambda settings, places, name: bundle.load(places.state, name).meta, _preview, ".wav")


def main(args: argparse.Namespace) -> int:
    """Run one voice sub-command; returns the exit code."""
    return run(VERBS, args)
