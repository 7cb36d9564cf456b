"""Audio and language helpers, viseme tracks, phonemes, endpointing and transcript scoring."""
