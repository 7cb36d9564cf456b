"""check-config: every problem named with its key path or line, never a traceback."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from runtime.config import Settings, load_config, parse_config
from runtime.core.compat import tomllib
from runtime.core.errors import ConfigFault
from tests.conftest import REPO, run_cli

DEFAULT = REPO / "config" / "default.toml"


def check(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return run_cli("check-config", "--config", str(path), timeout=60)


def test_default_file_is_valid_and_equals_the_embedded_defaults():
    assert load_config(DEFAULT) == Settings()
    done = run_cli("check-config", "--config", str(DEFAULT), timeout=60)
    assert done.returncode == 0, done.stderr


def _keys(value, prefix: str = "") -> set[str]:
    """Every key of the default settings, as dotted paths (a backend union gives its default's keys)."""
    if isinstance(value, BaseModel):
        items = {name: getattr(value, name) for name in type(value).model_fields}.items()
    elif isinstance(value, dict):
        items = value.items()
    else:
        return {prefix.rstrip(".")}
    return set().union(*(_keys(v, f"{prefix}{k}.") for k, v in items))


def _flat(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        out |= _flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return out


def test_default_file_documents_every_key_with_a_comment():
    text = DEFAULT.read_text(encoding="utf-8")
    assert _flat(tomllib.loads(text)) == _keys(Settings())
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"undocumented key: {line}"


@pytest.mark.parametrize("text, expected", [
    ("[bus]\nhwmm = 5\n", "bus.hwmm: unknown key"),
    ("[supervisor]\nstop_timeout_s = \"soon\"\n", "supervisor.stop_timeout_s: Input should be a valid number"),
    ("[bus]\nhwm = 0\n", "bus.hwm: Input should be greater than or equal to 1"),
    ("[capture]\ntype = \"telepathy\"\n", "capture.type"),
    ("[capture]\ntype = \"bus\"\n", "capture.type \"bus\" needs a [bus] pub_endpoint other processes can reach"),
    ("[bus]\npub_endpoint = \"http://x\"\n", "pub_endpoint 'http://x' must start with"),
    ("[bus]\nhwm = 5\n[bus\n", "line 3"),
    ("wat = 1\n", "wat: unknown key"),
    ("[supervisor]\nhang_timeout_s = inf\n", "supervisor.hang_timeout_s: Input should be a finite number"),
    ("[think]\nn_ctx = 1024\nmemory_tokens = 1000\n",
     "memory_tokens (1000) + max_reply_tokens (160) exceed n_ctx (1024)"),
])
def test_bad_config_is_refused_with_the_key_and_no_traceback(tmp_path, text, expected):
    done = check(tmp_path, text)
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "error[config-" in done.stderr


def test_every_error_is_listed_not_only_the_first(tmp_path):
    done = check(tmp_path, "[bus]\nhwm = 0\nfoo = 1\n[log]\nlevel = \"loud\"\n")
    assert done.returncode == 2
    for key in ("bus.hwm", "bus.foo", "log.level"):
        assert key in done.stderr


def test_missing_and_binary_files_are_clear_faults(tmp_path):
    assert "config-missing" in run_cli("check-config", "--config", str(tmp_path / "nope.toml")).stderr
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    done = run_cli("check-config", "--config", str(tmp_path / "bin.toml"))
    assert done.returncode == 2 and "config-unreadable" in done.stderr


def test_config_objects_are_immutable():
    with pytest.raises(ValidationError, match="frozen"):
        Settings().bus.hwm = 3
    with pytest.raises(ConfigFault):
        load_config("/nonexistent/config.toml")


def _sections():
    """(TOML table, config class, the keys it needs besides the one under test) for every section
    and every backend of a section."""
    import typing

    from runtime import config

    needs = {config.FileCapture: 'path = "in.wav"',
             config.BusCapture: '[bus]\npub_endpoint = "tcp://127.0.0.1:5555"\nsub_endpoint = "tcp://127.0.0.1:5556"',
             config.SherpaAsr: 'kind = "transducer"\nfiles = {encoder = "e.onnx"}\ntokens = "tokens.txt"',
             config.Persona: 'name = "Mia"\nsystem_prompt = "You are Mia."',
             config.OpenAIThink: 'url = "http://127.0.0.1:8000/v1"',
             config.WyomingAsr: 'uri = "tcp://127.0.0.1:10300"'}
    for name, field in Settings.model_fields.items():
        if name == "personas":
            yield "personas.guide", config.Persona, needs[config.Persona]
            continue
        for cls in typing.get_args(field.annotation) or (field.annotation,):  # a backend union, or one class
            kind = f'type = "{typing.get_args(cls.model_fields["type"].annotation)[0]}"' \
                if "type" in cls.model_fields else ""
            yield name, cls, "\n".join(filter(None, [kind, needs.get(cls, "")]))


def test_every_number_has_a_range_and_refuses_inf_and_nan():
    checked = 0
    for table, cls, needed in _sections():
        assert parse_config(f"[{table}]\n{needed}\n")  # positive control: the section alone is valid
        for key, field in cls.model_fields.items():
            if field.annotation not in (int, float):
                continue
            values = ["1e12", "-1e12", "inf", "nan"] if field.annotation is float else ["10000000000", "-10000000000"]
            for value in values:
                with pytest.raises(ConfigFault) as info:
                    parse_config(f"[{table}]\n{needed}\n{key} = {value}\n")
                assert any(e.startswith(table.split(".")[0]) and f".{key}:" in e for e in info.value.errors), \
                    (table, key, value, info.value.errors)
                checked += 1
    assert checked > 150  # every section was walked
