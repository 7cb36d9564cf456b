"""The command line's arguments: one sub-command per verb, each naming its handler."""

from __future__ import annotations

import argparse

from runtime import __version__
from runtime.cli import operate, stages


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
    run.set_defaults(func=operate.run)

    check = sub.add_parser("check-config", help="validate a config file; exit 0 when valid, 2 when not")
    check.add_argument("--config", help="config file to check (default: as for run)")
    check.set_defaults(func=operate.check_config)

    trans = sub.add_parser("transcribe", help="print the transcript of an audio file")
    trans.add_argument("file", help="WAV, FLAC or OGG file (any rate, mono or stereo)")
    trans.add_argument("--language", choices=["auto", "en", "zh"], default=None,
                       help="spoken language (default: [listen] language of the config)")
    trans.add_argument("--json", action="store_true", help="print one JSON object with segments and latency")
    trans.add_argument("--config", help="config file for the ASR and VAD settings")
    trans.set_defaults(func=stages.transcribe)

    reply = sub.add_parser("reply", help="stream the avatar's answer to a text")
    reply.add_argument("text", help="what the visitor says")
    reply.add_argument("--persona", help="persona id (default: [think] persona of the config)")
    reply.add_argument("--json", action="store_true",
                       help="one JSON object per chunk: text, emotion, intensity, t_ms")
    reply.add_argument("--config", help="config file")
    reply.set_defaults(func=stages.reply)

    speak = sub.add_parser("speak", help="synthesize text to a WAV file with its viseme track")
    speak.add_argument("text", help="what the avatar says")
    speak.add_argument("--out", required=True, help="WAV file to write")
    speak.add_argument("--visemes", help="JSON file for the viseme track (start, samples, targets)")
    speak.add_argument("--voice", help="an enrolled voice (`voice list`) or a stock voice (default: the config's)")
    speak.add_argument("--force", action="store_true", help="replace --out and --visemes if they exist")
    speak.add_argument("--config", help="config file ([speak] voice and settings)")
    speak.set_defaults(func=stages.speak)

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
    voice.set_defaults(func=operate.voice)

    avatar = sub.add_parser("avatar", help="enroll photos as avatars, list, show, remove, preview them")
    avatar_sub = _Subparsers(avatar.add_subparsers(dest="avatar_command", required=True), verbose)
    enroll = avatar_sub.add_parser("enroll", help="make an avatar from one portrait photo")
    enroll.add_argument("photo", help="JPEG, PNG or WebP photo of one face")
    enroll.add_argument("--name", help="avatar name (default: the photo's file name)")
    enroll.add_argument("--replace", action="store_true", help="replace the avatar of this name if there is one")
    _stored_verbs(avatar_sub, "avatar", "the avatars", "write a contact sheet of key poses", "PNG file to write")
    avatar.set_defaults(func=operate.avatar)

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
    render.set_defaults(func=stages.render)

    devices = sub.add_parser("devices", help="list sound input and output devices")
    devices.set_defaults(func=operate.devices)

    bench = sub.add_parser("bench", help="run a benchmark and print its numbers (default: end to end)")
    bench.add_argument("stage", nargs="?", default="e2e",
                       choices=["e2e", "hear", "think", "speak", "face", "soak", "control", "voice", "turn",
                                "presence", "echo"],
                       help="what to measure (e2e: the whole pipeline, with report.json/.md and timeline.png; "
                            "echo: barge-in over the avatar's own voice with and without echo cancellation)")
    bench.add_argument("--out", help="directory for the reports")
    bench.add_argument("--config", help="config file (models and settings to measure)")
    bench.add_argument("--turns", type=int, default=300, help="soak: spoken turns back to back (default 300)")
    bench.add_argument("--record", action="store_true",
                       help="e2e: record what the visitor sees and hears, and measure on the recording (also the "
                            "lips' offset from the voice); without it the face is shown in a window, as on a kiosk")
    bench.set_defaults(func=stages.bench)

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
    remote.set_defaults(func=operate.remote)

    models = sub.add_parser("models", help="list, fetch and verify the models of models/manifest.toml")
    models_sub = _Subparsers(models.add_subparsers(dest="models_command", required=True), verbose)
    for name, func, text in (("list", operate.models_list, "show every model and whether it is in the store"),
                             ("fetch", operate.models_fetch, "fetch missing models and verify them"),
                             ("verify", operate.models_verify, "re-hash every file of the store")):
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
        cmd.set_defaults(func=operate.service)
    return parser


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

