"""The bounds every outside input is held to (README, "Bounds"), and the checks that enforce them
cheaply, before anything large is parsed, decoded or allocated."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

MAX_CONFIG_BYTES = 1 * 2**20
"""Largest config file or applied document (bytes): refused before it is parsed."""
MAX_DEPTH = 32
"""Deepest nesting of a config document or a command body (tables/objects and lists)."""
MAX_TEXT_CHARS = 2000
"""Longest text from outside (a `say`, a typed line, a transcript) once normalised."""
MAX_PROMPT_CHARS = 32_768
"""Longest persona system prompt or facts (characters): n_ctx is at most 32768 tokens."""
MAX_FACTS_FILE_BYTES = 256 * 2**10
"""Largest facts_file read."""
MAX_IMAGE_PIXELS = 40_000_000
"""Largest photo decoded (width x height, read from its header first): 40 MP is 120 MB as RGB."""
MAX_RENDER_TEXT_CHARS = 10_000
"""Longest `render --text` (characters, about 12 minutes of speech): its audio is held while frames stream."""
MAX_AUDIO_S = 600.0
"""Longest audio file read (seconds, from its header): longer files are refused."""

_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]")
"""Terminal escape sequences (CSI, OSC, two-character ESC sequences): removed whole."""


def clean_text(text: str, max_chars: int | None = MAX_TEXT_CHARS) -> str:
    """Text from outside as the product handles it: terminal escapes removed, control and format
    characters (NUL, bell, bidi overrides) dropped, whitespace runs made one space, at most
    max_chars characters (None: no bound)."""
    text = _ESCAPES.sub("", text)
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in "\t\n\r\v\f" or category == "Zs":
            kept.append(" ")
        elif category[0] != "C" or char == "\u200d":  # the zero-width joiner holds emoji together
            kept.append(char)
    return " ".join("".join(kept).split())[:max_chars]


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON/TOML value (lists and maps), counted without recursion and without
    going further than limit + 1."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        level += 1
        deepest = max(deepest, level)
        if level <= limit:
            stack.extend((child, level) for child in item)
    return deepest


def load_json(raw: str | bytes, fail: Callable[[str, str], Exception]) -> Any:
    """A JSON document from outside, within MAX_DEPTH; `fail(reason, hint)` makes the caller's fault
    ("is not JSON: ...", "nests deeper than ...")."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise fail(f"is not JSON: {err}", 'send a JSON object, e.g. {"text": "hello"}') from err
    except RecursionError as err:
        raise fail(f"nests deeper than {MAX_DEPTH} levels", "send a flat JSON object") from err
    if depth(body) > MAX_DEPTH:
        raise fail(f"nests deeper than {MAX_DEPTH} levels", "send a flat JSON object")
    return body
