"""The hardware edges: sound devices, the display and media files (the only things tests fake)."""
