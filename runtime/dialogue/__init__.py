"""A conversation: persona, memory, speakable chunks and their emotion (no bus, no threads)."""
