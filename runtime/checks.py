"""What a kiosk must have before it starts, and check-config's looks at it: secrets, devices,
models, personas against the model's context, the servers engines use, what operators applied,
the camera. Each check raises the fault the start would raise, with its code and hint."""

from __future__ import annotations

from runtime import engines
from runtime.config import LANGUAGES, ConsoleCapture, FileCapture, MicrophoneCapture, Settings
from runtime.core.errors import RuntimeFault
from runtime.factories import dialogue_factory, resolve_capture, turn_factory
from runtime.hardware import sound
from runtime.needed import required_models
from runtime.places import Places
from runtime.store.models import ModelStore


def turn_note(settings: Settings, store: ModelStore) -> str:
    """check-config's word on the turn model when it is on but cannot be used ("" when it can)."""
    from runtime.speech.turn import TURN_FILE, TURN_MODEL, turn_model_state

    code, detail = turn_model_state(store) if settings.listen.turn_model else ("ok", "")
    return "" if code == "ok" else (f"[{code}] the turn model {TURN_MODEL}/{TURN_FILE} {detail}: the end of what "
                                    f"the visitor says is judged from the words alone; run `edge-talker models "
                                    f"fetch {TURN_MODEL}` (or set [listen] turn_model = false)")


def check_models(settings: Settings, places: Places) -> None:
    """Refuse to start, naming every missing or corrupt model at once, before any model loads (the
    optional turn model: refused when damaged, a warning when missing)."""
    listens = not isinstance(resolve_capture(settings), ConsoleCapture)
    places.models.require(required_models(settings, places, listens=listens))
    if listens:
        turn_factory(settings, places.models)
    if settings.speak.voice:
        from runtime.voice import bundle

        bundle.load(places.state, settings.speak.voice)  # voice-unknown / -damaged now


def measure_personas(settings: Settings, store: ModelStore) -> str:
    """Check that every persona fits the model's context, with the model's own tokenizer (its
    vocabulary only: about a second); returns what was measured against, for check-config."""
    engine_module = engines.module_of(settings.think)
    if not hasattr(engine_module, "tokenizer"):
        return ""
    engine = dialogue_factory(settings, store, build=engine_module.tokenizer)().engine
    return f"every persona fits the {engine.n_ctx}-token context of {settings.think.model}"


def check_servers(settings: Settings) -> str:
    """check-config's look at the servers the engines use (a Wyoming ASR server, an
    OpenAI-compatible LLM server):
    they answer; returns what was checked ("" when no engine uses a server)."""
    found = []
    for section in (settings.asr, settings.think, *(getattr(settings.speak, lang) for lang in LANGUAGES)):
        check = getattr(engines.module_of(section), "check", None)
        found.append(check(section) if check else "")
    return "; ".join(filter(None, found))


def check_applied(settings: Settings, places: Places) -> str:
    """check-config's look at what operators applied (applied-config.json in the state directory):
    validated with the config file under it and checked as the kiosk would start with it; a fault
    names that document. Returns what was checked ("" when nothing is applied)."""
    from runtime.control import desired
    from runtime.core.errors import ConfigFault

    applied_store = desired.AppliedStore(places.state)
    applied = applied_store.load()
    if not applied.overlay:
        return ""
    effective = desired.effective_in(places, settings, applied.overlay, str(applied_store.path))
    try:
        check_models(effective, places)
        measure_personas(effective, places.models)
    except RuntimeFault as fault:
        raise ConfigFault(fault.code if isinstance(fault, ConfigFault) else "config-applied-invalid",
                          f"{applied_store.path} (version {applied.version!r}, applied by operators): [{fault.code}] "
                          f"{fault.message}", f"{fault.hint}; or apply a corrected document (config.apply), or "
                          f"delete {applied_store.path} to run with the config file alone") from fault
    return f"{applied_store.path} (version {applied.version!r}) is valid over it"


def check_camera(settings: Settings) -> str:
    """check-config's look at [camera]: the source opens and gives a frame (camera-* faults);
    "" when the camera is off."""
    from runtime.hardware.camera import open_camera

    cam = settings.camera
    if not cam.enabled:
        return ""
    camera = open_camera(cam.source, cam.width, cam.height)
    camera.open()
    try:
        return f"the camera ({camera.name}) opens"
    finally:
        camera.close()


def preflight(settings: Settings, places: Places, *, personas: bool = True) -> None:
    """Refuse settings the kiosk could not start with, before they are accepted: the secrets they
    name, every model and device they need, and (personas=True) every persona measured against the
    model's context with its own tokenizer."""
    if settings.remote.type == "mqtt":
        from runtime.control.mqtt import password

        password(settings.remote)
    if settings.api.enabled:
        from runtime.actors.api import api_token

        api_token(settings.api)
    capture = settings.capture
    if isinstance(capture, MicrophoneCapture) and not sound.has_any("input"):
        from runtime.core.errors import CaptureFault

        raise CaptureFault("capture-no-device", "[capture] type = \"microphone\" but this kiosk has no sound input",
                           "use type = \"auto\" (typed input when there is no microphone), or attach one")
    if isinstance(capture, FileCapture):
        from runtime.speech.audio import read_audio

        read_audio(capture.path, report=False)  # audio-file-missing, -too-long, ... as the start would say
    check_models(settings, places)
    if personas:
        measure_personas(settings, places.models)

