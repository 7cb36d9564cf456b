"""The `edge-talker` command: thin sub-commands over the library.

Every user-facing failure is a RuntimeFault, printed as `error[code]: message` plus a hint and
turned into the fault's exit code; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from runtime import __version__
from runtime.core.errors import RuntimeFault, ThinkFault


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="edge-talker", description="Offline talking digital human.")
    parser.add_argument("--version", action="version", version=f"edge-talker {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    # -v is also accepted after the sub-command; SUPPRESS keeps a sub-parser from resetting it.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log debug messages")
    sub = _Subparsers(parser.add_subparsers(dest="command", required=True), verbose)

    run = sub.add_parser("run", help="run the talking avatar (the product)")
    run.add_argument("--config",
                     help="config file (default: $EDGE_TALKER_CONFIG, /etc/edge-talker/config.toml, built-in)")
    run.add_argument("--input", help="an audio file as the visitor (paced in real time) instead of the microphone")
    run.add_argument("--camera", help="a camera source for presence ([camera]): a device index, a /dev/video "
                                      "path, or a video file (played in real time) as the visitor")
    run.add_argument("--record", help="MP4 of what the visitor sees and hears (with the input on the right channel)")
    run.add_argument("--exit-when-idle", action="store_true",
                     help="stop once the input has ended and the conversation has gone quiet")
    run.set_defaults(func=_run)

    check = sub.add_parser("check-config", help="validate a config file; exit 0 when valid, 2 when not")
    check.add_argument("--config", help="config file to check (default: as for run)")
    check.set_defaults(func=_check_config)

    trans = sub.add_parser("transcribe", help="print the transcript of an audio file")
    trans.add_argument("file", help="WAV, FLAC or OGG file (any rate, mono or stereo)")
    trans.add_argument("--language", choices=["auto", "en", "zh"], default=None,
                       help="spoken language (default: [listen] language of the config)")
    trans.add_argument("--json", action="store_true", help="print one JSON object with segments and latency")
    trans.add_argument("--config", help="config file for the ASR and VAD settings")
    trans.set_defaults(func=_transcribe)

    reply = sub.add_parser("reply", help="stream the avatar's answer to a text")
    reply.add_argument("text", help="what the visitor says")
    reply.add_argument("--persona", help="persona id (default: [think] persona of the config)")
    reply.add_argument("--json", action="store_true",
                       help="one JSON object per chunk: text, emotion, intensity, t_ms")
    reply.add_argument("--config", help="config file")
    reply.set_defaults(func=_reply)

    speak = sub.add_parser("speak", help="synthesize text to a WAV file with its viseme track")
    speak.add_argument("text", help="what the avatar says")
    speak.add_argument("--out", required=True, help="WAV file to write")
    speak.add_argument("--visemes", help="JSON file for the viseme track (start, samples, targets)")
    speak.add_argument("--voice", help="an enrolled voice (`voice list`) or a stock voice (default: the config's)")
    speak.add_argument("--force", action="store_true", help="replace --out and --visemes if they exist")
    speak.add_argument("--config", help="config file ([speak] voice and settings)")
    speak.set_defaults(func=_speak)

    voice = sub.add_parser("voice", help="enroll a person's voice from a sample; list, show, remove, preview voices")
    voice_sub = _Subparsers(voice.add_subparsers(dest="voice_command", required=True), verbose)
    enroll = voice_sub.add_parser("enroll", help="match a voice to 3-10 s of a person speaking (WAV, FLAC, OGG)")
    enroll.add_argument("sample", help="audio file of one person speaking")
    enroll.add_argument("--name", required=True, help="voice name (lower-case letters, digits, - and _)")
    enroll.add_argument("--language", choices=["zh", "en"], help="the sample's language (default: detected)")
    enroll.add_argument("--replace", action="store_true", help="replace the voice of this name if there is one")
    preview = _stored_verbs(voice_sub, "voice", "the enrolled voices", "write a WAV of the voice saying a fixed "
                            "sentence", "WAV file to write")
    preview.add_argument("--text", default="", help="what to say (default: a fixed sentence)")
    voice.set_defaults(func=_voice)

    avatar = sub.add_parser("avatar", help="enroll photos as avatars, list, show, remove, preview them")
    avatar_sub = _Subparsers(avatar.add_subparsers(dest="avatar_command", required=True), verbose)
    enroll = avatar_sub.add_parser("enroll", help="make an avatar from one portrait photo")
    enroll.add_argument("photo", help="JPEG, PNG or WebP photo of one face")
    enroll.add_argument("--name", help="avatar name (default: the photo's file name)")
    enroll.add_argument("--replace", action="store_true", help="replace the avatar of this name if there is one")
    _stored_verbs(avatar_sub, "avatar", "the avatars", "write a contact sheet of key poses", "PNG file to write")
    avatar.set_defaults(func=_avatar)

    render = sub.add_parser("render", help="make a talking MP4 from the avatar and a text or a WAV, offline")
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="what the avatar says (synthesized with the configured voice)")
    source.add_argument("--audio", help="a recording the avatar lip-syncs to (WAV/FLAC/OGG)")
    render.add_argument("--avatar", help="avatar name (default: [avatar] name of the config)")
    render.add_argument("--voice", help="an enrolled voice or a stock voice for --text (default: the config's)")
    render.add_argument("--out", required=True, help="MP4 file to write")
    render.add_argument("--fps", type=int, default=25, help="video frame rate (5 to 60)")
    render.add_argument("--force", action="store_true", help="replace --out if it exists")
    render.add_argument("--seed", type=int, help="fix the blinks and glances (default: different each run)")
    render.add_argument("--config", help="config file")
    render.set_defaults(func=_render)

    devices = sub.add_parser("devices", help="list sound input and output devices")
    devices.set_defaults(func=_devices)

    bench = sub.add_parser("bench", help="run a benchmark and print its numbers (default: end to end)")
    bench.add_argument("stage", nargs="?", default="e2e",
                       choices=["e2e", "hear", "think", "speak", "face", "soak", "control", "voice", "turn",
                                "presence"],
                       help="what to measure (e2e: the whole pipeline, with report.json/.md and timeline.png)")
    bench.add_argument("--out", help="directory for the reports")
    bench.add_argument("--config", help="config file (models and settings to measure)")
    bench.add_argument("--turns", type=int, default=300, help="soak: spoken turns back to back (default 300)")
    bench.set_defaults(func=_bench)

    remote = sub.add_parser("remote", help="send a command to a device or the fleet over MQTT and print the replies",
                            description="edge-talker remote DEVICE CMD [JSON] | edge-talker remote --fleet CMD [JSON]. "
                                        "Prints one JSON reply per line; exit 0 when every reply is ok.")
    remote.add_argument("words", nargs="*", metavar="DEVICE CMD [JSON]",
                        help="device id (not with --fleet), command name, JSON body (or @file.json, or - for stdin)")
    remote.add_argument("--fleet", action="store_true", help="send to every device; wait --timeout for the replies")
    remote.add_argument("--broker", help="HOST[:PORT] of the broker (default: [remote] of --config)")
    remote.add_argument("--config", help="config file whose [remote] names the broker, TLS and credentials")
    remote.add_argument("--prefix", help="topic prefix (default: [remote] topic_prefix)")
    remote.add_argument("--ca", help="CA certificate: connect with TLS and verify the broker")
    remote.add_argument("--cert", help="client certificate (PEM)")
    remote.add_argument("--key", help="client certificate's key (PEM)")
    remote.add_argument("--username", help="user name at the broker")
    remote.add_argument("--password-env", help="environment variable holding the password")
    remote.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for replies (default 10)")
    remote.add_argument("--expect", type=int, help="with --fleet: stop once this many devices replied")
    remote.add_argument("--schema", action="store_true",
                        help="print the JSON schema of every command's payload (or of CMD: remote --schema CMD) "
                             "and exit; the device validates with the same models")
    remote.set_defaults(func=_remote)

    models = sub.add_parser("models", help="list, fetch and verify the models of models/manifest.toml")
    models_sub = _Subparsers(models.add_subparsers(dest="models_command", required=True), verbose)
    for name, func, text in (("list", _models_list, "show every model and whether it is in the store"),
                             ("fetch", _models_fetch, "fetch missing models and verify them"),
                             ("verify", _models_verify, "re-hash every file of the store")):
        cmd = models_sub.add_parser(name, help=text)
        cmd.add_argument("ids", nargs="*", help="model ids (default: all)")
        cmd.set_defaults(func=func)
    service = sub.add_parser("service", help="install, remove or inspect the systemd service (kiosk appliance)")
    service_sub = service.add_subparsers(dest="service_command", required=True)
    for name, text in (("install", "place the unit, user, directories, config (if absent) and models"),
                       ("uninstall", "remove the unit (config, state and models stay unless --purge)"),
                       ("status", "what is installed, and whether the service runs")):
        cmd = service_sub.add_parser(name, help=text)
        cmd.add_argument("--root", default="/", help="install into this directory instead of / (images, tests)")
        if name == "install":
            cmd.add_argument("--models-from", help="model store to copy (default: this user's store)")
            cmd.add_argument("--no-models", action="store_true", help="do not copy models")
        if name == "uninstall":
            cmd.add_argument("--purge", action="store_true", help="also remove config, state, models and cache")
        cmd.set_defaults(func=_service)
    return parser


def _service(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runtime import service
    from runtime.config import load_config
    from runtime.core.paths import models_dir

    root = Path(args.root)
    if args.service_command == "install":
        models = None if args.no_models else Path(args.models_from or models_dir(load_config().paths.models))
        executable = Path(sys.executable).with_name("edge-talker")
        return service.install(root, executable=executable, models_from=models)
    if args.service_command == "uninstall":
        return service.uninstall(root, purge=args.purge)
    return service.status(root)


def _stored_verbs(sub, kind: str, listed: str, preview_help: str, out_help: str) -> argparse.ArgumentParser:
    """`list`, `show`, `remove` and `preview` of stored things (avatars, voices), and `--config` on
    every verb of `sub`; returns the preview parser."""
    a = "an" if kind[0] in "aeiou" else "a"
    for verb, text in (("list", f"list {listed}"), ("show", f"print {a} {kind}'s metadata"),
                       ("remove", f"delete {a} {kind}"), ("preview", preview_help)):
        cmd = sub.add_parser(verb, help=text)
        if verb != "list":
            cmd.add_argument("name", help=f"{kind} name")
        if verb == "preview":
            cmd.add_argument("--out", required=True, help=out_help)
            cmd.add_argument("--force", action="store_true", help="replace --out if it exists")
            preview = cmd
    for cmd in sub.choices.values():
        cmd.add_argument("--config", help="config file")
    return preview


class _Subparsers:
    """add_subparsers() whose every sub-command also takes the given parent's options."""

    def __init__(self, action, parent: argparse.ArgumentParser) -> None:
        self.action, self.parent = action, parent

    @property
    def choices(self) -> dict:
        """The sub-commands by name."""
        return self.action.choices

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        """A sub-command."""
        return self.action.add_parser(name, parents=[self.parent], **kwargs)


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives every thread its own heap arena; with a dozen actor and model threads that
    costs hundreds of MB of RSS for nothing. Two arenas (as MALLOC_ARENA_MAX=2) are enough."""
    import ctypes
    import ctypes.util
    import os

    name = ctypes.util.find_library("c")
    if name and "MALLOC_ARENA_MAX" not in os.environ:
        try:
            ctypes.CDLL(name).mallopt(-8, arenas)  # -8 = M_ARENA_MAX
        except (OSError, AttributeError):  # not glibc: nothing to tune
            return


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    _limit_malloc_arenas()
    args = build_parser().parse_args(argv)
    if args.command in ("run", "avatar", "voice"):
        import os

        os.umask(0o077)  # state (avatars, recordings) shows visitors and faces: this user's only
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format=_log_format(), stream=sys.stderr)
    return guarded(lambda: args.func(args))


def guarded(func) -> int:
    """Run a command; a RuntimeFault becomes its rendered message and exit code, never a traceback."""
    try:
        code = func()
        sys.stdout.flush()  # a reader that went away shows up here, not as noise at exit
        return code
    except RuntimeFault as fault:
        print(fault.as_text(), file=sys.stderr)
        return fault.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `edge-talker models list | head -1`: the reader has what it wanted. Stop quietly, as
        # Unix tools do (128 + SIGPIPE), and keep the interpreter from flushing into the pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _log_format() -> str:
    import os

    # journald stamps every line itself; elsewhere a timestamp helps.
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        return "%(levelname)s %(name)s: %(message)s"
    return "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _run(args: argparse.Namespace) -> int:
    from runtime.checks import check_models
    from runtime.config import FileCapture, load_config
    from runtime.places import Places
    from runtime.product import RESTART, restart_process, run_app

    settings = load_config(args.config)
    changes = {}
    if args.input:
        from runtime.speech.audio import read_audio

        read_audio(args.input, report=False)  # a bad file is refused before any model loads
        changes["capture"] = FileCapture(type="file", path=args.input)
    if args.camera:
        changes["camera"] = settings.camera.model_copy(update={"enabled": True, "source": args.camera})
    if args.record:
        changes["record"] = settings.record.model_copy(update={"path": args.record, "directory": "",
                                                                "include_input": True})
    settings = settings.model_copy(update=changes)
    places = Places.of(settings.paths)
    check_models(settings, places)
    code = run_app(settings, exit_when_idle=args.exit_when_idle, places=places)
    if code == RESTART:
        restart_process()
    return code


def _check_config(args: argparse.Namespace) -> int:
    from runtime import checks
    from runtime.config import config_path, load_config
    from runtime.core.errors import ModelFault
    from runtime.places import Places

    settings = load_config(args.config)
    places = Places.of(settings.paths)
    try:
        measured = checks.measure_personas(settings, places.models)
    except ModelFault as fault:  # the file is valid; this machine cannot measure it
        print(f"note: personas not measured against the model's context: {fault.message}", file=sys.stderr)
        measured = ""
    applied = checks.check_applied(settings, places)
    servers = checks.check_servers(settings)
    camera = checks.check_camera(settings)
    if note := checks.turn_note(settings, places.models):
        print(f"note: {note}", file=sys.stderr)
    source = config_path(args.config)
    print(f"ok: {source if source else 'built-in defaults'} is valid"
          + "".join(f"; {part}" for part in (measured, servers, camera, applied) if part))
    return 0


def _transcribe(args: argparse.Namespace) -> int:
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


def _bench(args: argparse.Namespace) -> int:
    from importlib import import_module
    from pathlib import Path

    from runtime.config import load_config

    stage = import_module(f"runtime.bench.{args.stage}")
    extra = ({"config": args.config, "verbose": bool(getattr(args, "verbose", False))} if args.stage == "e2e"
             else {"turns": args.turns} if args.stage == "soak" else {})
    stage.run(Path(args.out) if args.out else None, load_config(args.config), **extra)
    return 0


def _reply(args: argparse.Namespace) -> int:
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


def _speak(args: argparse.Namespace) -> int:
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


def _avatar(args: argparse.Namespace) -> int:
    from runtime.face.commands import main

    return main(args)


def _voice(args: argparse.Namespace) -> int:
    from runtime.voice.commands import main

    return main(args)


def _render(args: argparse.Namespace) -> int:
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


def _devices(args: argparse.Namespace) -> int:
    from runtime.hardware import sound

    for kind in ("input", "output"):
        print(f"{kind}:\n{sound.describe(kind)}")
    return 0


def _remote(args: argparse.Namespace) -> int:
    import json

    from runtime.config import load_config
    from runtime.control.operator import Operator, operator_config, read_body
    from runtime.core.errors import RemoteFault

    words = list(args.words)
    if args.schema:
        return _print_schemas(words)
    need = 1 if args.fleet else 2
    if not need <= len(words) <= need + 1:
        raise RemoteFault("remote-bad-arguments", f"expected {'CMD [JSON]' if args.fleet else 'DEVICE CMD [JSON]'}, "
                          f"got {len(words)} word(s)", "e.g. edge-talker remote kiosk-1 say '{\"text\": \"hi\"}'")
    device = None if args.fleet else words.pop(0)
    name, body = words[0], read_body(words[1] if len(words) > 1 else None)
    cfg = operator_config(load_config(args.config).remote, broker=args.broker, prefix=args.prefix, ca=args.ca,
                          cert=args.cert, key=args.key, username=args.username, password_env=args.password_env)
    operator = Operator(cfg)
    try:
        replies = operator.request(device, name, body, timeout_s=args.timeout, expect=args.expect)
    finally:
        operator.close()
    for reply in replies:
        print(json.dumps(reply.body, ensure_ascii=False), flush=True)
    if not replies:
        raise RemoteFault("remote-no-reply", f"no reply within {args.timeout:g} s",
                          "check that the device is online (its status topic) and the device id")
    return 0 if all(r.body.get("ok") for r in replies) else 1


def _print_schemas(words: list[str]) -> int:
    """`remote --schema [CMD]`: the commands' payload schemas, from the models the device validates with."""
    import json

    from runtime.control.commands import Commands
    from runtime.control.openapi import command_schemas

    schemas = command_schemas()["commands"]
    if len(words) > 1:
        from runtime.core.errors import RemoteFault

        raise RemoteFault("remote-bad-arguments", f"--schema takes at most one command, got {len(words)} words",
                          "e.g. edge-talker remote --schema say")
    if words:
        Commands.request_model(words[0])  # command-unknown, naming the commands
    print(json.dumps(schemas[words[0]] if words else {"commands": schemas}, indent=2, ensure_ascii=False))
    return 0


def _selected(ids: list[str]):
    from runtime.config import load_config
    from runtime.places import Places

    store = Places.of(load_config().paths).models
    entries = [store.manifest.get(i) for i in ids] if ids else list(store.manifest.model)
    return store, entries


def _models_list(args: argparse.Namespace) -> int:
    store, entries = _selected(args.ids)
    print(f"store: {store.root}")
    for entry in entries:
        codes = {s.code for s in store.check(entry, full=False)}
        state = "ok" if codes == {"ok"} else ",".join(sorted(codes - {"ok"}))
        print(f"{entry.id:22} {entry.role:9} {entry.size / 1e6:8.1f} MB  {state:14} {entry.licence}")
    return 0


def _models_fetch(args: argparse.Namespace) -> int:
    from runtime.store.fetch import Fetcher

    store, entries = _selected(args.ids)
    print(f"store: {store.root}")
    fetcher = Fetcher(store)
    for entry in entries:
        print(f"{entry.id}: {fetcher.fetch(entry)}", flush=True)
    return 0


def _models_verify(args: argparse.Namespace) -> int:
    store, entries = _selected(args.ids)
    print(f"store: {store.root}")
    failed = 0
    for entry in entries:
        for status in store.check(entry, full=True):
            if status.code != "ok":
                failed += 1
                optional = " (optional: without it the words alone say when the visitor has finished)"
                print(f"error[{status.code}]: {entry.id}/{status.name} {status.detail}\n"
                      f"  hint: run `edge-talker models fetch {entry.id}`{optional if entry.role == 'turn' else ''}")
            else:
                print(f"ok: {entry.id}/{status.name}")
    return 1 if failed else 0
