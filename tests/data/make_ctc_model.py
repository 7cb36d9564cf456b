"""Write a tiny zipformer-CTC-shaped ONNX model + tokens.txt that sherpa-onnx can load.

The model has the interface sherpa-onnx's offline zipformer CTC recognizer expects: inputs
`x` (N, T, 80 fbank) and `x_lens` (N,), outputs log-probs (N, T/4, vocab) and their lengths; the
vocabulary size is read from the output shape. Its "acoustics" are one rule: a frame whose mean
log-mel energy is above a threshold emits the token HELLO, anything else emits blank. So a loud
burst decodes as "HELLO" and two bursts separated by silence as "HELLO HELLO".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

THRESHOLD = -6.0
"""Mean log-mel energy above which a frame counts as sound."""


def build() -> onnx.ModelProto:
    """The model graph."""
    const = lambda name, value, dtype=np.float32: helper.make_tensor(  # noqa: E731
        name, TensorProto.FLOAT if dtype == np.float32 else TensorProto.INT64, [len(value)],
        np.asarray(value, dtype).tolist())
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["energy"], axes=[2], keepdims=0),
        helper.make_node("Slice", ["energy", "start", "end", "axis", "step"], ["sub"]),
        helper.make_node("Sub", ["sub", "threshold"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["z"]),
        helper.make_node("Neg", ["z"], ["minus_z"]),
        helper.make_node("Unsqueeze", ["minus_z", "axis2"], ["blank"]),
        helper.make_node("Unsqueeze", ["z", "axis2"], ["hello"]),
        helper.make_node("Concat", ["blank", "hello"], ["logits"], axis=2),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=2),
        helper.make_node("Add", ["x_lens", "three"], ["lens_plus"]),
        helper.make_node("Div", ["lens_plus", "four"], ["log_probs_len"]),
    ]
    initializers = [
        const("start", [0], np.int64), const("end", [2**62], np.int64), const("axis", [1], np.int64),
        const("step", [4], np.int64), const("axis2", [2], np.int64), const("three", [3], np.int64),
        const("four", [4], np.int64), const("threshold", [THRESHOLD]), const("gain", [4.0]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_ctc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 80]),
         helper.make_tensor_value_info("x_lens", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["N", "T2", 2]),
         helper.make_tensor_value_info("log_probs_len", TensorProto.INT64, ["N"])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write(folder: Path) -> tuple[Path, Path]:
    """Write model.onnx and tokens.txt into folder; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    model, tokens = folder / "model.onnx", folder / "tokens.txt"
    onnx.save(build(), str(model))
    tokens.write_text("<blk> 0\n▁HELLO 1\n", encoding="utf-8")
    return model, tokens


if __name__ == "__main__":
    print(*write(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-ctc")))
