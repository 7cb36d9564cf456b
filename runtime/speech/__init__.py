"""Audio and language helpers, viseme tracks, the decode worker and transcript scoring."""
