"""The REST API's contract: the OpenAPI document at /openapi.json is generated from the models that
validate the requests, and a real kiosk (in-process actors, echo think engine, no speaker, no
window, a bearer token) keeps it: schemathesis fuzzes it with every default check (fixed seed, a
few examples per operation), and the Python SDK sends requests generated from the document. By
hand: 405 with Allow, HEAD, required bodies, the streams, and the MQTT commands' schemas."""

from __future__ import annotations

import inspect
import json

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from runtime.control.http import create_app
from runtime.control.requests import REQUESTS
from runtime.sdk import ApiError, Client
from tests.conftest import REPO, run_cli
from tests.kiosk import TOKEN, ApiKiosk

SEED = 20261205
EXAMPLES = 6
"""Examples per operation and phase: enough to hit every field's bounds, cheap enough for the suite."""
NOT_FUZZED = ["/restart", "/events", "/live.mjpeg", "/models/verify"]
"""/restart restarts the kiosk; the streams never end; /models/verify re-hashes 2 GB of models (10+ s a
call on this box): all are tested by hand, here and in test_api (`st run` fuzzes /models/verify)."""


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory, default_avatar):
    with ApiKiosk(tmp_path_factory.mktemp("contract-kiosk"), default_avatar) as the_kiosk:
        yield the_kiosk


@pytest.fixture(scope="module")
def document(kiosk) -> dict:
    return kiosk.http("GET", "/openapi.json").json


def st_config() -> SchemathesisConfig:
    """The project's schemathesis.toml (what `st run` reads in the checkout), with this run's token."""
    text = (f'seed = {SEED}\nheaders = {{ Authorization = "Bearer {TOKEN}" }}\n'
            + (REPO / "schemathesis.toml").read_text(encoding="utf-8")
            + f"\n[generation]\nmax-examples = {EXAMPLES}\ndeterministic = true\ndatabase = \"none\"\n")
    return SchemathesisConfig.from_str(text)


DOCUMENT = create_app(None, token=TOKEN, max_upload_bytes=1).openapi()
"""The document of a kiosk with a token, as the kiosk serves it (test_a_kiosk_serves_the_document)."""
contract = schemathesis.openapi.from_dict(DOCUMENT, config=st_config()).exclude(path=NOT_FUZZED)


@contract.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_the_kiosk_keeps_its_openapi_document(case, kiosk):
    """Every default check: no 5xx, every status and body documented, schema-valid requests
    accepted, schema-violating ones refused, 405 with Allow, auth enforced."""
    case.call_and_validate(base_url=kiosk.url)
    kiosk.device.restart_pending = False  # a config that needs a restart: this in-process kiosk does not


# --- the document ------------------------------------------------------------------------------------


def operations(document: dict) -> dict[str, dict]:
    return {f"{method.upper()} {path}": op for path, item in document["paths"].items() for method, op in item.items()}


def test_the_document_is_the_routes_and_the_models(document):
    from runtime.control import openapi

    assert document == DOCUMENT  # what the conformance test fuzzes is what a kiosk serves
    app = create_app(None, token="t", max_upload_bytes=1)
    served = {f"{m} {r.path}" for r in app.routes for m in getattr(r, "methods", ()) or ()
              if r.path not in ("/", "/favicon.ico", "/openapi.json") and m != "HEAD"}
    assert served == set(operations(document)), served ^ set(operations(document))
    schemas = document["components"]["schemas"]
    for op in openapi.OPERATIONS:  # the request schemas are the validating models' own
        if op.body is not None:
            assert schemas[op.body.__name__] == _without_defs(op.body), op.body
    config = schemas["ConfigApplyRequest"]
    assert config["oneOf"] == [{"required": ["toml"]}, {"required": ["json"]}] and config["required"] == ["version"]
    assert schemas["Persona"]["properties"]["voices"]["propertyNames"] == {"enum": ["en", "zh"]}
    sample = operations(document)["GET /voices/sample.wav"]["parameters"][0]
    assert sample["required"] and sample["schema"]["minLength"] == 1
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert schemas["ErrorBody"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message", "hint", "stage"}
    for name, op in operations(document).items():
        statuses = set(op["responses"])
        assert {"401", "500", "503"} <= statuses or name == "POST /session", name
        if "requestBody" in op:
            assert {"400", "413", "415"} <= statuses, name
        for status, response in op["responses"].items():
            if status >= "400":
                assert response["content"] == {"application/json": {"schema": error}}, (name, status)
    media = {name: next(iter(op["responses"]["200"]["content"])) for name, op in operations(document).items()
             if "200" in op["responses"]}
    assert media["GET /avatars/{name}/sheet.jpg"] == "image/jpeg" and media["GET /voices/sample.wav"] == "audio/wav"
    assert media["GET /bench/latest/timeline.png"] == "image/png"
    assert media["GET /events"] == "text/event-stream" and media["GET /live.mjpeg"] == "multipart/x-mixed-replace"
    assert "caption" in operations(document)["GET /events"]["description"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert operations(document)["POST /session"]["security"] == []


def _without_defs(model) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    schema.pop("$defs", None)
    return schema


# --- methods, HEAD, bodies ---------------------------------------------------------------------------


def test_405_names_the_methods_and_head_answers_as_get(kiosk):
    for method, path, allow in (("TRACE", "/voices", "GET, HEAD, POST"), ("DELETE", "/say", "POST"),
                                ("PATCH", "/avatars", "GET, HEAD, POST"), ("PUT", "/avatars/ada", "DELETE"),
                                ("OPTIONS", "/config", "GET, HEAD, PATCH, PUT")):
        reply = kiosk.http(method, path)
        assert (reply.status, reply.code, reply.headers["Allow"]) == (405, "api-method-not-allowed", allow), path
    for path in ("/status", "/avatars/default/sheet.jpg", "/openapi.json"):
        got, head = kiosk.http("GET", path), kiosk.http("HEAD", path)
        assert head.status == 200 and head.raw == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == got.headers["content-length"], path
    assert kiosk.http("HEAD", "/personas/nobody").status == 404
    for path, media in (("/events", "text/event-stream"), ("/live.mjpeg", "multipart/x-mixed-replace")):
        head = kiosk.http("HEAD", path)
        assert head.status == 200 and head.headers["content-type"].startswith(media) and head.raw == b""
    hub = kiosk.actor("api").hub
    assert not hub.wants("frames") and not hub.wants("events")  # HEAD opened no stream


def test_a_required_body_is_required_and_an_optional_one_is_not(kiosk, document):
    for name, op in operations(document).items():
        method, path = name.split(" ", 1)
        if "requestBody" not in op or path == "/models/verify":  # re-hashes 2 GB: test_api runs it
            continue
        reply = kiosk.http(method, path.replace("{persona_id}", "guest"))
        if op["requestBody"]["required"]:
            assert reply.status in (400, 415), (name, reply.status, reply.json)
        else:
            kiosk.device.restart_pending = False  # /restart: this in-process kiosk only counts restarts
            assert reply.status == 200, (name, reply.status, reply.json)
            assert kiosk.http(method, path, b"null", headers={"Content-Type": "application/json"}).status == 400
    assert kiosk.http("POST", "/session", token=None).code == "command-invalid"


def test_valid_but_unusable_is_422_and_in_use_or_there_is_409(kiosk):
    said = kiosk.http("POST", "/say", {"text": "\x07\x1b[31m\x1b[0m"})
    assert (said.status, said.code) == (422, "say-nothing-left") and said.json["error"]["hint"]
    assert kiosk.http("PUT", "/config", {"toml": "[play]\nvolumme = 1", "version": "v"}).status == 422
    assert kiosk.http("PUT", "/config", {"toml": None, "json": {}, "version": "v"}).code == "command-invalid"
    assert kiosk.http("PUT", "/config", {"toml": "", "json": {}, "version": "v"}).code == "command-invalid"
    assert kiosk.http("PUT", "/personas/x", {"name": "X", "system_prompt": "p", "max_sentences": True}).status == 400
    assert kiosk.http("PUT", "/personas/x", {"id": "y", "name": "X", "system_prompt": "p"}).status == 400
    assert kiosk.http("DELETE", "/avatars/default").status == 409


# --- the SDK -----------------------------------------------------------------------------------------


CALLS = {
    "GET /personas/{persona_id}": lambda c, p, q, b: c.persona(p["persona_id"]),
    "PUT /personas/{persona_id}": lambda c, p, q, b: c.put_persona(p["persona_id"], **b),
    "POST /persona": lambda c, p, q, b: c.use_persona(b["id"]),
    "GET /avatars/{name}/sheet.jpg": lambda c, p, q, b: c.avatar_sheet(p["name"]),
    "DELETE /avatars/{name}": lambda c, p, q, b: c.remove_avatar(p["name"]),
    "POST /avatar": lambda c, p, q, b: c.use_avatar(b["name"]),
    "GET /voices/sample.wav": lambda c, p, q, b: c.voice_sample(q["id"], q.get("text", "")),
    "POST /voice": lambda c, p, q, b: c.use_voice(b["id"]),
    "POST /voices": lambda c, p, q, b: c.enroll_voice(b["sample"].encode(), b["name"], language=b.get("language", ""),
                                                      replace=b.get("replace", False)),
    "POST /say": lambda c, p, q, b: c.say(**b),
    "POST /interrupt": lambda c, p, q, b: c.interrupt(),
    "POST /volume": lambda c, p, q, b: c.volume(**b),
    "POST /mute": lambda c, p, q, b: c.mute(**b),
    "PUT /config": lambda c, p, q, b: c.apply_config(b["version"], toml=b.get("toml"), document=b.get("json")),
    "PATCH /personas/{persona_id}": lambda c, p, q, b: c.patch_persona(p["persona_id"], **b),
}
"""How a request of the document is an SDK call (arguments named as the document's fields, or its
path and query parameters in order)."""


def test_the_sdk_has_a_method_for_every_operation(document):
    ops = operations(document)
    assert set(Client.OPERATIONS) == set(ops)
    for name, method in Client.OPERATIONS.items():
        if method is None:  # POST /session: the console's login
            continue
        found = inspect.getattr_static(Client, method)
        assert isinstance(found, property) or callable(found), name
        media = next(iter(next(iter(ops[name]["responses"].values()))["content"]))
        if media not in ("application/json", "text/event-stream"):  # binary: the SDK gives the bytes
            assert inspect.signature(found).return_annotation in ("bytes", "Iterator[bytes]"), name


def test_requests_generated_from_the_document_go_through_the_sdk(kiosk):
    client = Client(kiosk.url, token=TOKEN)
    refused: list[tuple] = []
    sent: list[str] = []
    for name, call in CALLS.items():
        method, path = name.split(" ", 1)
        _send_examples(kiosk, client, name, call, contract[path][method], refused, sent)
    assert not refused, refused
    assert set(sent) == set(CALLS) and len(sent) > 3 * len(CALLS)
    assert client.verify_models(["tts-piper-joe"]) == {"ok": True, "models": {"tts-piper-joe": "ok"}}


def _send_examples(kiosk, client, name, call, operation, refused: list, sent: list) -> None:
    """Send EXAMPLES requests drawn from the document's operation through the SDK; a refusal with
    400 (the SDK sent what the document does not allow) or 5xx is kept in `refused`."""

    @hypothesis.given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def send(case):
        sent.append(name)
        try:
            call(client, case.path_parameters or {}, case.query or {}, case.body if isinstance(case.body, dict) else {})
        except ApiError as err:  # 404, 409, 422: answers about the kiosk's state, not the request's shape
            if err.status not in (404, 409, 422):
                refused.append((name, case.path_parameters, case.query, case.body, err.status, err.code, err.message))
        kiosk.device.restart_pending = False

    send()


# --- MQTT --------------------------------------------------------------------------------------------


def test_remote_schema_prints_the_commands_schemas_from_the_same_models():
    out = run_cli("remote", "--schema")
    assert out.returncode == 0, out.stderr
    commands = json.loads(out.stdout)["commands"]
    assert set(commands) == set(REQUESTS)
    for name, model in REQUESTS.items():
        schema = {k: v for k, v in commands[name].items() if k != "$schema"}
        assert schema == model.model_json_schema(by_alias=True), name
    import jsonschema_rs  # what schemathesis validates with

    check = jsonschema_rs.validator_for(commands["volume"])
    assert check.is_valid({"level": 0.5}) and not check.is_valid({"level": 2}) and not check.is_valid({})
    say = json.loads(run_cli("remote", "--schema", "say").stdout)
    assert say["required"] == ["text"] and say["properties"]["text"]["maxLength"] == 2000
    unknown = run_cli("remote", "--schema", "dance")
    assert unknown.returncode != 0 and "error[command-unknown]" in unknown.stderr
