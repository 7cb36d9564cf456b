"""Partial edits of what operators applied, and the diff an operator sees before a change that
would replace or delete something.

A partial edit is a JSON merge patch (RFC 7396): tables merge key by key, a value replaces the
value it names, `null` deletes the key. A persona is merged field by field over the persona in
force (so facts, pinned voices and safety replies the editor never showed stay), and is stored
whole in the applied document. `config.apply` still replaces the applied document; its diff shows
what that drops, and the console asks before it sends it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from runtime.config import Persona, Settings
from runtime.control import desired
from runtime.core.errors import ControlFault, ThinkFault

_MAX_SHOWN = 200
"""Longest value (characters of its JSON) shown in a diff; longer ones are cut."""


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with the merge patch laid over it (neither is changed): a table merges key by
    key, None deletes a key, anything else replaces; a backend table whose `type` changes is
    replaced whole (its other keys belong to the old backend)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    if "type" in patch and isinstance(target, dict) and patch.get("type") != target.get("type"):
        out = {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def persona_patch(settings: Settings, overlay: dict, persona_id: str, fields: dict) -> dict:
    """The applied document with some fields of a persona changed (the others as they are in force)."""
    if not fields:
        raise ControlFault("command-invalid", "bad request: no field to change",
                           "send the persona's fields to change, e.g. {\"id\": \"guide\", \"style\": \"calm\"}")
    if persona_id not in settings.personas:
        raise ThinkFault("think-unknown-persona", f"no persona {persona_id!r}",
                         "add it whole first (persona.put, PUT /personas/{id}); `personas` lists them")
    return _with_personas(settings, overlay, {persona_id: fields})


def config_patch(settings: Settings, overlay: dict, document: dict) -> dict:
    """The applied document with a partial document merged over it: only the keys it names change;
    each persona it names is merged field by field over the persona in force (null: removed)."""
    if not isinstance(document, dict):
        raise ControlFault("command-invalid", "`json` must be an object of config sections",
                           'e.g. {"json": {"play": {"volume": 0.5}}, "version": "v2"}')
    rest = {k: v for k, v in document.items() if k != "personas"}
    out = merge_patch(overlay, rest)
    personas = document.get("personas")
    if personas is None:
        if "personas" in document:  # "personas": null drops every persona the operators added
            out.pop("personas", None)
        return out
    if not isinstance(personas, dict):
        raise ControlFault("command-invalid", "`personas` must be an object of personas by id",
                           'e.g. {"personas": {"guide": {"style": "calm"}}}')
    return _with_personas(settings, out, personas)


def _with_personas(settings: Settings, overlay: dict, personas: dict) -> dict:
    out = desired.merge(overlay, {})
    table = dict(out.get("personas", {}))
    for pid, fields in personas.items():
        if fields is None:
            table.pop(pid, None)
            continue
        if not isinstance(fields, dict):
            raise ControlFault("command-invalid", f"personas.{pid} must be an object of persona fields",
                               'e.g. {"style": "calm"}, or null to remove it')
        fields = {k: v for k, v in fields.items() if k != "id"}
        current = settings.personas.get(pid)
        base = current.model_dump(mode="json") if current is not None else {}
        merged = merge_patch(base, fields)
        try:
            Persona.model_validate(merged)
        except ValidationError as err:
            problems = "; ".join(f"personas.{pid}.{'.'.join(str(p) for p in e['loc']) or 'persona'}: {e['msg']}"
                                 for e in err.errors())
            # A value sent that breaks its field's rules is a bad request; a valid patch that leaves
            # the persona unusable (a required field taken back with null) is refused as such.
            sent = {k for k, v in fields.items() if v is not None}
            code = "command-invalid" if any(e["loc"] and e["loc"][0] in sent for e in err.errors()) \
                else "persona-invalid"
            raise ControlFault(code, f"bad request: {problems}", "fix the persona's fields named above") from err
        table[pid] = merged
    out["personas"] = table
    return out


def flatten(data: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by dotted path (lists and scalars are leaves; an empty table is one leaf)."""
    if not isinstance(data, dict) or (not data and path):
        return {path: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{path}.{key}" if path else str(key)))
    return out


def diff(old: Settings, new: Settings, old_overlay: dict, new_overlay: dict) -> list[dict]:
    """What a change does, setting by setting: kind `added`, `changed`, `removed` (the setting is
    gone, e.g. a persona), or `reverted` (an operator's value dropped: back to the config file's)."""
    before, after = flatten(old.model_dump(mode="json")), flatten(new.model_dump(mode="json"))
    had, has = flatten(old_overlay), flatten(new_overlay)
    dropped = {p for p in had if p not in has and not any(p.startswith(f"{q}.") for q in has)}
    out = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) == after.get(path) and (path in before) == (path in after):
            continue
        kind = "added" if path not in before else "removed" if path not in after else "changed"
        if kind == "changed" and (path in dropped or any(path.startswith(f"{p}.") for p in dropped)):
            kind = "reverted"
        out.append({"path": path, "kind": kind, "before": _shown(before.get(path)), "after": _shown(after.get(path))})
    return out


def destructive(entries: list[dict]) -> list[dict]:
    """The entries an operator must confirm: something removed, or an applied value dropped."""
    return [e for e in entries if e["kind"] in ("removed", "reverted")]


def _shown(value: Any) -> Any:
    import json

    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False)
    return value if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}…"
