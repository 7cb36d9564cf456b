"""The audio rates the bus carries: wire constants every stage agrees on."""

SAMPLE_RATE = 16000
"""The pipeline's internal rate for heard audio (hertz)."""
VOICE_RATE = 22050
"""Rate of the bundled piper voice (hertz): only a default; every piece of speech carries its own rate."""
