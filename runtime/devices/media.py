"""MP4 files through PyAV: H.264 (yuv420p) video and AAC audio with exact timestamps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from runtime.core.errors import RecordFault
from runtime.speech.audio import VOICE_RATE, to_int16


class Mp4Writer:
    """Writes frames (RGB, indexed at `fps`) and audio (indexed in samples) into one MP4.

    threads: encoder threads (0 = as many as cores, for offline clips; 1 for live recording, so
    the encoder never takes the CPU from the voice and the face)."""

    def __init__(self, path: str | Path, *, width: int, height: int, fps: int = 25, sample_rate: int = VOICE_RATE,
                 crf: int = 20, channels: int = 1, threads: int = 0) -> None:
        import av

        try:
            self.container = av.open(str(path), "w")
        except (OSError, av.FFmpegError) as err:
            raise RecordFault("record-open-failed", f"cannot write {path}: {err}",
                               "check the directory exists and is writable") from err
        self.video = self.container.add_stream("libx264", rate=fps)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
        self.video.options = {"crf": str(crf), "preset": "veryfast", "tune": "animation", "threads": str(threads)}
        self.video.codec_context.time_base = Fraction(1, fps)
        self.audio = self.container.add_stream("aac", rate=sample_rate)
        self.channels = channels
        self.audio.layout = "mono" if channels == 1 else "stereo"
        self.sample_rate = sample_rate
        self._fifo = av.AudioFifo()
        self._audio_pts = 0
        self._closed = False

    def write_video(self, rgb: np.ndarray, index: int) -> None:
        """Frame number `index` (its time is index / fps)."""
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = index
        frame.time_base = self.video.codec_context.time_base
        self.container.mux(self.video.encode(frame))

    def write_audio(self, pcm: np.ndarray) -> None:
        """The next samples of the soundtrack (int16 or float32; (n,) mono or (n, 2) stereo)."""
        import av

        if pcm.dtype != np.int16:
            pcm = to_int16(pcm)
        if self.channels == 1:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        else:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T), format="s16p", layout="stereo")
        frame.sample_rate = self.sample_rate
        frame.pts = self._audio_pts
        frame.time_base = Fraction(1, self.sample_rate)
        self._audio_pts += pcm.shape[0]
        self._fifo.write(frame)
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        size = self.audio.codec_context.frame_size or 1024
        while self._fifo.samples >= size or (final and self._fifo.samples):
            frame = self._fifo.read(min(size, self._fifo.samples) if final else size)
            self.container.mux(self.audio.encode(frame))

    def close(self) -> None:
        """Flush both encoders and finish the file."""
        if self._closed:
            return
        self._closed = True
        self._drain(final=True)
        self.container.mux(self.video.encode(None))
        self.container.mux(self.audio.encode(None))
        self.container.close()


def read_clip(path: str | Path, channel: int | None = None) -> tuple[list[np.ndarray], float, np.ndarray, int]:
    """Decoded frames (RGB), video fps, float32 audio (mixed, or one channel) and its rate."""
    import av

    frames, chunks, rate, fps = [], [], 0, 0.0
    with av.open(str(path)) as container:
        fps = float(container.streams.video[0].average_rate or 0)
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            data = frame.to_ndarray()
            if data.ndim == 2 and data.shape[0] > 1:
                chunks.append(data[channel] if channel is not None else data.mean(axis=0))
            else:
                chunks.append(data.reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return frames, fps, audio, rate
