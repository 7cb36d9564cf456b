"""MP4 files through PyAV: H.264 (yuv420p) video and AAC audio with exact timestamps."""

from __future__ import annotations

import errno
from fractions import Fraction
from pathlib import Path

import numpy as np

from runtime.core.errors import RecordFault
from runtime.core.rates import VOICE_RATE
from runtime.speech.audio import to_int16


class Mp4Writer:
    """Writes frames (RGB, indexed at `fps`) and audio (indexed in samples) into one MP4.

    threads: encoder threads (0 = as many as cores, for offline clips; 1 for live recording, so
    the encoder never takes the CPU from the voice and the face).
    live: a fragmented MP4 (a fragment every keyframe, one every 2 s), so a recording cut short
    by a crash, a kill or a full disk is still playable up to its last fragment.

    A write that fails (disk full, I/O error) raises RecordFault once; the writer is then dead:
    later writes do nothing and close() only releases the file (muxing again after a failed write
    crashes FFmpeg)."""

    def __init__(self, path: str | Path, *, width: int, height: int, fps: int = 25, sample_rate: int = VOICE_RATE,
                 crf: int = 20, channels: int = 1, threads: int = 0, live: bool = False) -> None:
        import av

        self.path = Path(path)
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if live else {}
        try:
            self.container = av.open(str(path), "w", format="mp4", options=options)
        except (OSError, av.FFmpegError) as err:
            raise RecordFault("record-open-failed", f"cannot write {path}: {err}",
                               "check the directory exists and is writable") from err
        self.video = self.container.add_stream("libx264", rate=fps)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
        self.video.options = {"crf": str(crf), "preset": "veryfast", "tune": "animation", "threads": str(threads)}
        if live:
            self.video.options["g"] = str(2 * fps)
        self.video.codec_context.time_base = Fraction(1, fps)
        self.audio = self.container.add_stream("aac", rate=sample_rate)
        self.channels = channels
        self.audio.layout = "mono" if channels == 1 else "stereo"
        self.sample_rate = sample_rate
        self._fifo = av.AudioFifo()
        self._audio_pts = 0
        self._skip = _AAC_PRIMING if live else 0
        """Samples of the soundtrack's start left out: a fragmented MP4 has no edit list to hide
        the encoder's priming, so without this every player hears the sound that much late."""
        self._closed = False
        self.failed: RecordFault | None = None
        """Why writing stopped, when a write failed."""

    @property
    def audio_samples(self) -> int:
        """Samples of audio written so far."""
        return self._audio_pts

    def size_bytes(self) -> int:
        """Bytes on disk now (0 when the file cannot be read)."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def write_video(self, rgb: np.ndarray, index: int) -> None:
        """Frame number `index` (its time is index / fps)."""
        import av

        if self.failed is not None:
            return
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = index
        frame.time_base = self.video.codec_context.time_base
        self._mux(self.video.encode(frame))

    def write_audio(self, pcm: np.ndarray) -> None:
        """The next samples of the soundtrack (int16 or float32; (n,) mono or (n, 2) stereo)."""
        import av

        if self.failed is not None or not pcm.shape[0]:
            return
        if pcm.dtype != np.int16:
            pcm = to_int16(pcm)
        skip = max(0, self._skip - self._audio_pts)
        pcm, self._audio_pts = pcm[skip:], self._audio_pts + min(skip, pcm.shape[0])
        if not pcm.shape[0]:
            return
        if self.channels == 1:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        else:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T), format="s16p", layout="stereo")
        frame.sample_rate = self.sample_rate
        frame.pts = self._audio_pts - self._skip
        self._audio_pts += pcm.shape[0]
        frame.time_base = Fraction(1, self.sample_rate)
        self._fifo.write(frame)
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        size = self.audio.codec_context.frame_size or 1024
        while self.failed is None and (self._fifo.samples >= size or (final and self._fifo.samples)):
            frame = self._fifo.read(min(size, self._fifo.samples) if final else size)
            self._mux(self.audio.encode(frame))

    def _mux(self, packets) -> None:
        import av

        try:
            self.container.mux(packets)
        except (OSError, av.FFmpegError) as err:
            self.failed = write_fault(self.path, err)
            raise self.failed from err

    def close(self) -> None:
        """Flush both encoders and finish the file; after a failed write, only release it.
        Raises RecordFault when finishing the file fails."""
        import av

        if self._closed:
            return
        self._closed = True
        try:
            if self.failed is None:
                self._drain(final=True)
                self._mux(self.video.encode(None))
                self._mux(self.audio.encode(None))
        finally:
            try:
                self.container.close()
            except (OSError, av.FFmpegError) as err:
                if self.failed is None:
                    self.failed = write_fault(self.path, err)
                    raise self.failed from err


_AAC_PRIMING = 1024
"""Samples FFmpeg's AAC encoder puts before the first real one (its initial padding)."""


def write_fault(path: Path, err: BaseException) -> RecordFault:
    """The fault for a failed write: a full disk, or another I/O error."""
    if getattr(err, "errno", None) == errno.ENOSPC:
        return RecordFault("record-disk-full", f"the disk holding {path} is full; recording stopped",
                           "free space or lower [record] keep_mb; the conversation goes on without recording")
    return RecordFault("record-write-failed", f"cannot write {path}: {err}; recording stopped",
                       "check the disk and the file's permissions")


def read_clip(path: str | Path, channel: int | None = None, *,
              truncated: bool = False) -> tuple[list[np.ndarray], float, np.ndarray, int]:
    """Decoded frames (RGB), video fps, float32 audio (mixed, or one channel) and its rate.

    Frames are what a player shows at each 1/fps: a frame held over a gap in the timestamps (a
    recorder that fell behind) is repeated.

    truncated: the file may end mid-fragment (a recording cut by a kill or a power cut): read
    what decodes and stop at the damaged tail, as a player does."""
    import av

    frames, chunks, rate, fps = [], [], 0, 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.codec_context.framerate or stream.average_rate or 0)  # the encoder's rate (SPS)
        first = None
        for frame in _decoded(container, truncated, video=0):
            if frame.pts is not None and fps:  # a held frame (a gap in the timestamps) shows until the next
                first = frame.pts if first is None else first
                at = round(float((frame.pts - first) * frame.time_base) * fps)
                frames.extend(frames[-1:] * (at - len(frames)))
            frames.append(frame.to_ndarray(format="rgb24"))
    with av.open(str(path)) as container:
        for frame in _decoded(container, truncated, audio=0):
            rate = frame.sample_rate
            data = frame.to_ndarray()
            if data.ndim == 2 and data.shape[0] > 1:
                chunks.append(data[channel] if channel is not None else data.mean(axis=0))
            else:
                chunks.append(data.reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return frames, fps, audio, rate


def _decoded(container, truncated: bool, **stream):
    import av

    decoding = container.decode(**stream)
    while True:
        try:
            yield next(decoding)
        except StopIteration:
            return
        except (av.InvalidDataError, av.EOFError):
            if not truncated:
                raise
            return
