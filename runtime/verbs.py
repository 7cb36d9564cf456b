"""`edge-talker avatar|voice enroll|list|show|remove|preview`: the command line's verbs over one
kind of bundle (runtime.store.bundles); each kind gives its enroll, show and preview."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.core.outputs import check_output
from runtime.places import Places
from runtime.store.bundles import BundleKind


@dataclass(frozen=True)
class Verbs:
    """What one kind of bundle does on the command line."""

    bundles: BundleKind
    empty: str
    """What `list` prints when there are none."""
    enroll: Callable[[Any, Places, argparse.Namespace], str]
    """enroll(settings, places, args): enroll one; the line that says what was stored."""
    show: Callable[[Any, Places, str], dict]
    """show(settings, places, name): the metadata `show` prints."""
    preview: Callable[[Any, Places, argparse.Namespace], str]
    """preview(settings, places, args): write args.out; the line that says what it holds."""
    preview_suffix: str


def run(verbs: Verbs, args: argparse.Namespace) -> int:
    """Run one verb; returns the exit code."""
    from runtime.config import load_config

    settings = load_config(args.config)
    places = Places.of(settings.paths)
    state = places.state
    kind = verbs.bundles.kind
    command = getattr(args, f"{kind}_command")
    if command == "enroll":
        try:
            state.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=state).close()  # before a minute of work, not after it
            done = verbs.enroll(settings, places, args)
        except OSError as err:  # a read-only or full state directory: nothing half-written is left
            raise verbs.bundles.fault(f"{kind}-state-unwritable", f"cannot write the {kind} into {state}: "
                                      f"{err.strerror}", "set [paths] state or $EDGE_TALKER_STATE to a writable "
                                      "directory") from err
        print(done)
    elif command == "list":
        for name in verbs.bundles.names(state) or [verbs.empty]:
            print(name)
    elif command == "show":
        print(json.dumps(verbs.show(settings, places, args.name), indent=1, ensure_ascii=False))
    elif command == "remove":
        verbs.bundles.remove(state, args.name)
        print(f"removed {args.name}")
    else:
        check_output(args.out, (verbs.preview_suffix,), fault=verbs.bundles.fault, prefix=f"{kind}-preview",
                     force=args.force)
        print(verbs.preview(settings, places, args))
    return 0
