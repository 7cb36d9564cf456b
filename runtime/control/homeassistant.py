"""Home Assistant MQTT discovery for one device: a status sensor, the last latency, a persona
select, a volume number, a mute switch, a "say" text and an interrupt button. Every entity reads
the device's own status and state topics and sends the device's own commands (without a
ResponseTopic, so they run without a reply), so Home Assistant speaks the same contract as any
operator."""

from __future__ import annotations

import re
from typing import Any

from runtime import __version__
from runtime.control.mqtt import Topics

_ONLINE = "{{ 'online' if value_json.online else 'offline' }}"


def discovery(topics: Topics, prefix: str, personas: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(config topic, payload) of every entity, to publish retained."""
    node = re.sub(r"[^A-Za-z0-9_-]", "_", topics.device)
    device = {"identifiers": [f"edge-talker-{node}"], "name": f"EdgeTalker {topics.device}",
              "manufacturer": "EdgeTalker", "model": "talking kiosk", "sw_version": __version__}
    available = {"availability_topic": topics.status, "availability_template": _ONLINE}
    state = {"state_topic": topics.state}
    entities: dict[tuple[str, str], dict[str, Any]] = {
        ("sensor", "status"): {"name": "Status", "state_topic": topics.status, "value_template": _ONLINE,
                               "icon": "mdi:account-voice"},
        ("sensor", "latency"): {"name": "Last latency", **state, **available, "unit_of_measurement": "ms",
                                "state_class": "measurement", "icon": "mdi:timer-outline",
                                "value_template": "{{ value_json.last_turn.get('voice_to_voice_ms') }}"},
        ("select", "persona"): {"name": "Persona", **state, **available, "options": sorted(personas),
                                "value_template": "{{ value_json.persona }}",
                                "command_topic": topics.command("persona"),
                                "command_template": '{"id": {{ value | tojson }}}'},
        ("number", "volume"): {"name": "Volume", **state, **available, "min": 0, "max": 1, "step": 0.05,
                               "mode": "slider", "value_template": "{{ value_json.volume }}",
                               "command_topic": topics.command("volume"),
                               "command_template": '{"level": {{ value }}}'},
        ("switch", "mute"): {"name": "Mute", **state, **available, "state_on": "ON", "state_off": "OFF",
                             "value_template": "{{ 'ON' if value_json.muted else 'OFF' }}",
                             "command_topic": topics.command("mute"), "payload_on": '{"on": true}',
                             "payload_off": '{"on": false}'},
        ("text", "say"): {"name": "Say", **available, "mode": "text", "min": 1, "max": 255,
                          "command_topic": topics.command("say"),
                          "command_template": '{"text": {{ value | tojson }}}'},
        ("button", "interrupt"): {"name": "Interrupt", **available, "command_topic": topics.command("interrupt"),
                                  "payload_press": "{}", "icon": "mdi:hand-back-left"},
    }
    return [(f"{prefix}/{component}/{node}/{key}/config",
             {**payload, "unique_id": f"edge-talker-{node}-{key}", "object_id": f"edge_talker_{node}_{key}",
              "device": device})
            for (component, key), payload in entities.items()]
