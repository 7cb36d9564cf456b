"""Running and operating the kiosk from the command line: run, check-config, the service, the
sound devices, the fleet (remote), the model store, avatars and voices."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    """`edge-talker run`: the talking avatar until stopped (restarts itself for operators' changes)."""
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


def check_config(args: argparse.Namespace) -> int:
    """`edge-talker check-config`: everything a start would check, checked now."""
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


def service(args: argparse.Namespace) -> int:
    """`edge-talker service install|uninstall|status`: the systemd appliance."""
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


def devices(args: argparse.Namespace) -> int:
    """`edge-talker devices`: the sound inputs and outputs."""
    from runtime.hardware import sound

    for kind in ("input", "output"):
        print(f"{kind}:\n{sound.describe(kind)}")
    return 0


def remote(args: argparse.Namespace) -> int:
    """`edge-talker remote`: one command to a kiosk or the fleet over MQTT, and its replies."""
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


def models_list(args: argparse.Namespace) -> int:
    """`edge-talker models list`: every manifest model and whether the store has it."""
    store, entries = _selected(args.ids)
    print(f"store: {store.root}")
    for entry in entries:
        codes = {s.code for s in store.check(entry, full=False)}
        state = "ok" if codes == {"ok"} else ",".join(sorted(codes - {"ok"}))
        print(f"{entry.id:22} {entry.role:9} {entry.size / 1e6:8.1f} MB  {state:14} {entry.licence}")
    return 0


def models_fetch(args: argparse.Namespace) -> int:
    """`edge-talker models fetch`: fetch what is missing, then verify it."""
    from runtime.store.fetch import Fetcher

    store, entries = _selected(args.ids)
    print(f"store: {store.root}")
    fetcher = Fetcher(store)
    for entry in entries:
        print(f"{entry.id}: {fetcher.fetch(entry)}", flush=True)
    return 0


def models_verify(args: argparse.Namespace) -> int:
    """`edge-talker models verify`: re-hash every file of the store."""
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


def avatar(args: argparse.Namespace) -> int:
    """`edge-talker avatar ...`: enroll, list, show, remove and preview avatars."""
    from runtime.face.commands import main

    return main(args)


def voice(args: argparse.Namespace) -> int:
    """`edge-talker voice ...`: enroll, list, show, remove and preview voices."""
    from runtime.voice.commands import main

    return main(args)

