"""A person's voice for the avatar: sample checks, matching a Kokoro style to it, enrolled voices."""
