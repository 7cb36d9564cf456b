"""Configs written before a table changed shape, read as they were meant: the one place that
knows the old shapes."""

from __future__ import annotations

from runtime.engines.tts import is_piper_voice


def flat_speak(data, fields) -> object:
    """A flat [speak] section of old configs (before there was a voice per language) as [speak.en];
    `fields` are the keys [speak] has today."""
    if not isinstance(data, dict):
        return data
    flat = {k: v for k, v in data.items() if k not in fields}
    if "voice" in data and (flat or is_piper_voice(str(data["voice"]))):
        flat["voice"] = data["voice"]  # a flat [speak] of old configs: the English voice
    if flat:
        if not isinstance(data.get("en", {}), dict) or data.get("en"):
            raise ValueError("give the English voice either as [speak.en] or with keys directly under "
                             "[speak], not both")
        data = {**{k: v for k, v in data.items() if k in fields and k not in flat}, "en": flat}
    return data

