"""The operations operators run on a device: ONE layer that the MQTT fleet link and the REST API
both call, so the two never disagree.

Each operation validates its body (runtime.control.requests), then either returns a JSON-able
result or raises a RuntimeFault with a stable code and a hint; on error nothing has changed.
Operations act on the running product through the bus (Interrupt, Say, SetPersona, SetVolume ...).
Every setting an operator changes goes through one path (`_change`): the applied document is
validated in full with the config file under it, persisted (state directory, atomically), then
applied live where an actor can take it, else by a graceful restart.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runtime import __version__
from runtime.config import RESERVED_DEVICE_IDS, Settings
from runtime.control import assets, desired, edits
from runtime.control.requests import (
    MAX_PHOTO_BYTES,
    MAX_SAMPLE_BYTES,
    REQUESTS,
    AvatarRequest,
    ConfigApplyRequest,
    ConfigMergeRequest,
    EnrollRequest,
    MuteRequest,
    PersonaPatch,
    PersonaPut,
    PersonaRequest,
    SayRequest,
    VerifyRequest,
    VoiceEnrollRequest,
    VoiceRequest,
    VolumeRequest,
)
from runtime.control.samples import VoiceSamples
from runtime.control.state import Observer
from runtime.core.errors import AvatarFault, ConfirmFault, ControlFault, ThinkFault, VoiceFault
from runtime.core.messages import ConfigApplied, Interrupt, InterruptReason, Message, Say, SetAvatar
from runtime.places import Places

_LOGGER = logging.getLogger(__name__)

_LIVE = {"think.persona", "avatar.name", "speak.voice", "speak.en.voice", "speak.zh.voice", "play.volume", "play.mute",
         "remote.share_transcripts", "api.captions"}
"""Settings an actor takes while running; a change of any other key restarts the process."""


def device_name(settings: Settings) -> str:
    """This device's id in topics: [remote] device_id, else the host name made topic-safe."""
    if settings.remote.device_id:
        return settings.remote.device_id
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64] or "device"
    return f"{host}-device" if host in RESERVED_DEVICE_IDS else host


class Device:
    """The control plane's shared state, one per process (made by the composition root): the
    config file's settings, what operators applied over it, and the settings in force."""

    def __init__(self, base: Settings, places: Places, settings: Settings | None = None,
                 applied: desired.Applied | None = None, applied_store: desired.AppliedStore | None = None, *,
                 on_restart: Callable[[], None] = lambda: None,
                 preflight: Callable[[Settings], None] = lambda _s: None) -> None:
        self.lock = threading.RLock()
        """Serializes operations: each one sees and leaves a consistent device."""
        self.base = base
        self.places, self.models = places, places.models
        """Where the device's files are, and its model store ([paths]: operators never change it)."""
        self.settings = settings or base
        self.applied = applied or desired.Applied()
        self.applied_store = applied_store or desired.AppliedStore(places.state)
        self.on_restart = on_restart
        self.preflight = preflight
        """Refuses settings the kiosk could not start with (models, devices, personas vs context)."""
        self.trial = None
        """The safety net of a document on trial (runtime.control.trial), made by the composition root."""
        self.samples = VoiceSamples()
        """Loaded engines for voice samples, shared by the API and the fleet link."""
        self.restart_pending = False
        self.rollback_told = False
        self.started = time.monotonic()
        self.started_unix = time.time()
        self.id = device_name(self.settings)

    def restart_if_pending(self) -> None:
        """Restart the process now if an operation asked for it (call once its reply is sent)."""
        if self.restart_pending:
            _LOGGER.warning("restarting the process for the new configuration")
            self.on_restart()


class Commands:
    """The operations, bound to one caller's bus publisher and turn (each actor makes its own)."""

    def __init__(self, device: Device, observer: Observer, publish: Callable[[Message], None], *,
                 open_turn: Callable[[], int], keep_alive: Callable[[], object] = lambda: None) -> None:
        self.device = device
        self.observer = observer
        self.publish = publish
        self._open_turn = open_turn
        """Opens a new conversation turn on the bus's one turn clock (a visitor's onset and an
        operator's `say` never get the same number)."""
        self._keep_alive = keep_alive
        """Called between the steps of long operations (the caller's heartbeat)."""

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self.device.settings

    @staticmethod
    def request_model(name: str) -> type[BaseModel]:
        """The body model of a command; command-unknown when there is no such command."""
        model = REQUESTS.get(name)
        if model is None:
            raise ControlFault("command-unknown", f"no command {name!r}", f"commands: {', '.join(sorted(REQUESTS))}")
        return model

    def run(self, name: str, body: Any) -> Any:
        """Run a command by name with its JSON body (an MQTT payload or an HTTP body); the result, or a
        RuntimeFault."""
        request = validate(self.request_model(name), {} if body is None else body)
        return getattr(self, name.replace(".", "_"))(request)

    # --- reading ----------------------------------------------------------------------------

    def status(self, _=None) -> dict:
        """Online, software version, running since (unix seconds)."""
        return {"online": True, "version": __version__, "since": int(self.device.started_unix),
                "device": self.device.id}

    def state(self, _=None) -> dict:
        """What the device is now: settings in force, health, the last turn's numbers."""
        s, device = self.settings, self.device
        voices = assets.voices_in_use(s, device.places.state)
        return {"device": device.id, "version": __version__, "persona": s.think.persona, "avatar": s.avatar.name,
                "voice": voices.get("en", ""), "voices": voices, "volume": s.play.volume, "muted": s.play.mute,
                "config_version": device.applied.version, "models": assets.models_in_use(s, device.places),
                "uptime_s": round(time.monotonic() - device.started, 1), "restart_pending": device.restart_pending,
                **(self.observer.presence() if s.camera.enabled else {}),
                **({"config_problem": device.applied.problem} if device.applied.problem else {}),
                **({"config_rolled_back": device.applied.rolled_back} if device.applied.rolled_back else {}),
                **self.observer.snapshot()}

    def personas(self, _=None) -> dict:
        """Every persona and the active one."""
        s = self.settings
        return {"active": s.think.persona, "personas": {k: v.model_dump(mode="json") for k, v in s.personas.items()}}

    def avatars(self, _=None) -> dict:
        """The enrolled avatars and the one shown."""
        from runtime.face import bundle

        names = set(bundle.names(self.device.places.state)) | {bundle.DEFAULT}
        return {"active": self.settings.avatar.name, "avatars": sorted(names)}

    def voices(self, _=None) -> dict:
        """The voices an operator can pick (piper voices of the manifest, installed or not; the
        Kokoro voices of the installed voice folder) and the one in use for each language."""
        active = assets.voices_in_use(self.settings, self.device.places.state)
        return {"active": active.get("en", ""), "active_by_language": active,
                "voices": assets.voice_list(self.settings, self.device.places)}

    def config_get(self, _=None) -> dict:
        """The configuration in force, and what operators applied over the config file."""
        applied = self.device.applied
        return {"version": applied.version, "applied_at": applied.applied_at,
                "config": self.settings.model_dump(mode="json"), "applied": applied.overlay}

    def models_verify(self, request: VerifyRequest) -> dict:
        """Re-hash the models' files; the result names every problem (the command itself succeeds)."""
        store = self.device.models
        entries = [store.manifest.get(i) for i in request.ids] if request.ids else list(store.manifest.model)
        report, ok = {}, True
        for entry in entries:
            self._keep_alive()
            problems = [f"{s.code}: {s.name} {s.detail}" for s in store.check(entry, full=True) if s.code != "ok"]
            report[entry.id] = problems or "ok"
            ok &= not problems
        return {"ok": ok, "models": report}

    # --- acting -----------------------------------------------------------------------------

    def say(self, request: SayRequest) -> dict:
        """Interrupt whatever is being said and say this, with the face."""
        if not request.text.strip():
            raise ControlFault("say-nothing-left", "the text has nothing to say once control characters and "
                               "terminal escapes are dropped", "send words, e.g. {\"text\": \"Hello!\"}")
        turn = self._open_turn()
        self.publish(Interrupt(turn=turn, reason=InterruptReason.OPERATOR))
        self.publish(Say(turn=turn, text=request.text.strip(), language=request.language))
        return {"turn": turn}

    def interrupt(self, _=None) -> dict:
        """Stop the avatar now (as a barge-in does)."""
        turn = self._open_turn()
        self.publish(Interrupt(turn=turn, reason=InterruptReason.OPERATOR))
        return {"turn": turn}

    def restart(self, _=None) -> dict:
        """Restart the process once the reply is sent (systemd starts it again)."""
        self.device.restart_pending = True
        return {"restarting": True}

    # --- settings: every change goes through _change ---------------------------------------

    def persona(self, request: PersonaRequest) -> dict:
        """Switch persona."""
        if request.id not in self.settings.personas:
            raise ThinkFault("think-unknown-persona", f"no persona {request.id!r}",
                             f"use one of: {', '.join(sorted(self.settings.personas))}, or add it with persona.put")
        return self._patch({"think": {"persona": request.id}})

    def persona_put(self, request: PersonaPut) -> dict:
        """Add or replace a persona (live; the active one changes with the next answer)."""
        overlay = desired.merge(self.device.applied.overlay, {})
        overlay["personas"] = {**overlay.get("personas", {}),
                               request.id: request.model_dump(mode="json", exclude={"id"})}
        return self._change(overlay)

    def persona_patch(self, request: PersonaPatch) -> dict:
        """Change some fields of a persona; the others (facts, pinned voices, safety replies ...) stay."""
        with self.device.lock:
            overlay = edits.persona_patch(self.settings, self.device.applied.overlay, request.id,
                                          dict(request.model_extra or {}))
            return self._change(overlay)

    def avatar(self, request: AvatarRequest) -> dict:
        """Show another enrolled avatar."""
        return self._patch({"avatar": {"name": request.name}})

    def avatar_enroll(self, request: EnrollRequest) -> dict:
        """Enroll a base64 photo as a new avatar (not shown until `avatar` switches to it)."""
        if len(request.photo) * 3 // 4 > MAX_PHOTO_BYTES + 2:
            raise AvatarFault("avatar-photo-too-large", f"the photo has {len(request.photo) * 3 / 4 / 2**20:.1f} MB, "
                              f"at most {MAX_PHOTO_BYTES / 2**20:.0f} MB are accepted", "send a smaller JPEG")
        try:
            data = base64.b64decode(request.photo, validate=True)
        except (binascii.Error, ValueError) as err:
            raise ControlFault("command-invalid", f"photo is not base64: {err}",
                               "send the image file's bytes base64-encoded") from err
        return self.enroll(request.name, data, MAX_PHOTO_BYTES, replace=request.replace)

    def enroll(self, name: str, photo: bytes, limit: int, *, replace: bool = False) -> dict:
        """Enroll photo bytes as avatar `name` (MQTT: base64 in the body; HTTP: a multipart upload);
        with replace, an avatar of that name gets the new photo."""
        validate(AvatarRequest, {"name": name})
        self._keep_alive()
        result = assets.enroll(self.settings.avatar, self.device.places, name, photo, limit, replace=replace)
        if name == self.settings.avatar.name:
            self.publish(SetAvatar(avatar=name))  # the face on show was replaced: reload it
        return result

    def avatar_sheet(self, name: str) -> bytes:
        """JPEG contact sheet of an avatar's key poses (shown before switching to it)."""
        validate(AvatarRequest, {"name": name})
        return assets.contact_sheet_jpeg(self.settings.avatar, self.device.places, name)

    def voice_sample(self, voice: str, text: str = "") -> bytes:
        """WAV of a voice saying a sentence (the console's listen button), from the device's
        cache of sample engines (runtime.control.samples)."""
        request = validate(VoiceRequest, {"id": voice})
        return self.device.samples.wav(self.settings, self.device.places, request.id, text)

    def bench_latest(self) -> dict:
        """The last end-to-end benchmark report ([api] bench_dir)."""
        return assets.bench_report(self.settings)

    def bench_file(self, name: str) -> Path:
        """A file of that report (its timeline picture)."""
        return assets.bench_file(self.settings, name)

    def avatar_remove(self, request: AvatarRequest) -> dict:
        """Delete an avatar that is not on show."""
        from runtime.face import bundle

        if request.name == self.settings.avatar.name:
            raise AvatarFault("avatar-in-use", f"avatar {request.name!r} is on show",
                              "switch to another avatar first")
        bundle.remove(self.device.places.state, request.name)
        return {"removed": request.name}

    def voice_enroll(self, request: VoiceEnrollRequest) -> dict:
        """Enroll a base64 voice sample (about a minute); a poor match is not stored (see the reply's offer)."""
        if len(request.sample) * 3 // 4 > MAX_SAMPLE_BYTES + 2:
            raise VoiceFault("voice-sample-too-large", f"the sample has {len(request.sample) * 3 / 4 / 2**20:.1f} MB, "
                             f"at most {MAX_SAMPLE_BYTES / 2**20:.0f} MB are accepted",
                             "send 5-20 s of speech as 16 kHz mono WAV or FLAC")
        try:
            data = base64.b64decode(request.sample, validate=True)
        except (binascii.Error, ValueError) as err:
            raise VoiceFault("voice-sample-not-base64", f"the sample is not base64: {err}",
                             "send the sound file's bytes base64-encoded") from err
        return assets.enroll_voice(self.settings, self.device.places, request.name, data, request.language or None,
                                   replace=request.replace, keep_alive=self._keep_alive)

    def voice(self, request: VoiceRequest) -> dict:
        """Speak with another voice (stock or enrolled)."""
        return self._patch({"speak": assets.voice_patch(self.settings, self.device.places.state, request.id)})

    def volume(self, request: VolumeRequest) -> dict:
        """Set the speaker's loudness."""
        return self._patch({"play": {"volume": request.level}})

    def mute(self, request: MuteRequest) -> dict:
        """Mute or unmute the speaker."""
        return self._patch({"play": {"mute": request.on}})

    def config_apply(self, request: ConfigApplyRequest) -> dict:
        """Replace what operators applied over the config file with this document (dry_run: only its diff)."""
        return self._change(desired.parse_document(request.toml, request.json_), request.version,
                            dry_run=request.dry_run)

    def config_merge(self, request: ConfigMergeRequest) -> dict:
        """Merge a partial document over what operators applied; a change that removes or reverts
        settings needs `confirm` (config-confirm-needed carries its diff)."""
        document = desired.parse_document(request.toml, request.json_)
        with self.device.lock:
            overlay = edits.config_patch(self.settings, self.device.applied.overlay, document)
            return self._change(overlay, request.version, dry_run=request.dry_run, confirm=request.confirm)

    def _patch(self, patch: dict) -> dict:
        return self._change(desired.merge(self.device.applied.overlay, patch))

    def _change(self, overlay: dict, version: str | None = None, *, dry_run: bool = False,
                confirm: bool = True) -> dict:
        device = self.device
        with device.lock:
            new = desired.effective_in(device.places, device.base, overlay)
            old = device.settings
            self._check_assets(old, new)
            changed = desired.changed_paths(old, new)
            live = {p for p in changed if p in _LIVE or p.startswith("personas.")}
            restart = bool(changed - live)
            if dry_run or not confirm:
                entries = edits.diff(old, new, device.applied.overlay, overlay)
                risky = edits.destructive(entries)
                if dry_run:
                    return {"dry_run": True, "version": version or device.applied.version, "changed": sorted(changed),
                            "restart": restart, "diff": entries, "needs_confirm": bool(risky)}
                if risky:
                    raise ConfirmFault("config-confirm-needed", "this change removes or reverts "
                                       f"{len(risky)} setting(s): {', '.join(e['path'] for e in risky[:8])}",
                                       "look at the diff, then send it again with confirm: true", entries)
            if changed:
                device.preflight(new)  # as the kiosk will start with it, before it is accepted
            applied = desired.next_applied(device.applied, overlay, version, restart=restart)
            if changed or version is not None:
                device.applied_store.save(applied)  # persisted before anything changes
            device.settings, device.applied = new, applied
            for msg in desired.live_messages(new, live):
                self.publish(msg)
            if changed or version is not None:
                self.publish(ConfigApplied(version=applied.version, restart=restart))
            device.restart_pending |= restart
        if changed:
            _LOGGER.info("config %r: changed %s%s", applied.version, ", ".join(sorted(changed)),
                         " (restart)" if restart else "")
        return {"version": applied.version, "changed": sorted(changed), "restart": restart}

    def _check_assets(self, old: Settings, new: Settings) -> None:
        """What the schema cannot check: the avatar and the voice exist on this device."""
        from runtime.face import bundle

        state = self.device.places.state
        if new.avatar.name != old.avatar.name and new.avatar.name != bundle.DEFAULT:
            bundle.check_name(new.avatar.name)
            if new.avatar.name not in bundle.names(state):
                raise AvatarFault("avatar-unknown", f"no avatar {new.avatar.name!r}",
                                  "enroll it first (avatar.enroll); `avatars` lists the avatars")
        if new.speak.voice and new.speak.voice != old.speak.voice:
            from runtime.voice import bundle

            bundle.load(state, new.speak.voice)  # voice-unknown / voice-damaged
        before = assets.voices_in_use(old, state)
        for lang, voice in assets.voices_in_use(new, state).items():
            if voice != before.get(lang) and voice != new.speak.voice:
                assets.check_voice(self.device.models, voice, getattr(new.speak, lang))


def validate(model: type[BaseModel], body: Any) -> BaseModel:
    """A request body checked against its model; command-invalid naming every bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors())
        raise ControlFault("command-invalid", f"bad request: {problems}",
                           "README (Operations: fleet) lists every command and its fields") from err
