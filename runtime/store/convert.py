"""Conversions run once at fetch time on verified source files (manifest `tool` names them).

- `tflite2onnx`: MediaPipe's TFLite face models to ONNX (sorted so the bytes are stable).
- `kokoro-durations`: Kokoro-82M with its per-token durations added as a second graph output, so
  the voice can make a viseme track exact to the sample. The change is structural (one Identity
  node and one output); the bytes are the same on every machine, so the result is pinned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

DURATIONS = "durations"
"""Name of the output `kokoro-durations` adds: int64 [tokens], duration frames per input token."""


def convert_tflite(source: Path, target: Path) -> None:
    """TFLite -> ONNX with tflite2onnx, made byte-reproducible by sorting the graph's tensors."""
    import onnx
    import tflite2onnx

    # tflite2onnx warns about every float16 tensor (they are folded correctly); keep the log readable.
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    tflite2onnx.convert(str(source), str(target))
    model = onnx.load(str(target))
    for field in ("initializer", "value_info"):
        items = sorted(getattr(model.graph, field), key=lambda t: t.name)
        del getattr(model.graph, field)[:]
        getattr(model.graph, field).extend(items)
    onnx.save(model, str(target))


def expose_durations(source: Path, target: Path) -> None:
    """Kokoro ONNX -> the same model with an extra output `durations` (int64 [tokens]).

    Inside the graph the duration predictor ends in Round -> Clip(min 1) -> Cast(int64), and a
    Gather drops the batch axis before the CumSum that builds the alignment: the Gather's output
    holds each token's frame count (pads included). It is found by that structure, not by name.
    """
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    graph = model.graph
    if any(o.name == DURATIONS for o in graph.output):
        raise ValueError(f"{source.name} already has an output named {DURATIONS!r}")
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only(tensor: str, op: str):
        found = [n for n in consumers.get(tensor, []) if n.op_type == op]
        return found[0] if len(found) == 1 else None

    hits = []
    for node in graph.node:
        if node.op_type != "Round":
            continue
        clip = only(node.output[0], "Clip")
        cast = clip and only(clip.output[0], "Cast")
        gather = cast and only(cast.output[0], "Gather")
        if gather and only(gather.output[0], "CumSum"):
            hits.append(gather.output[0])
    if len(hits) != 1:
        raise ValueError(f"{source.name}: expected one Round->Clip->Cast->Gather->CumSum chain, found {len(hits)}")
    graph.node.append(helper.make_node("Identity", [hits[0]], [DURATIONS], name="edge_talker/durations"))
    graph.output.append(helper.make_tensor_value_info(DURATIONS, TensorProto.INT64, ["tokens"]))
    onnx.checker.check_model(model)
    target.write_bytes(model.SerializeToString())


CONVERTERS: dict[str, Callable[[Path, Path], None]] = {
    "tflite2onnx": convert_tflite,
    "kokoro-durations": expose_durations,
}
"""Manifest `tool` -> converter(source, target)."""
