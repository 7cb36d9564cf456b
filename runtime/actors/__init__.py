"""Bus-facing actors, one file each; they adapt the bus to an engine and hold no model code (with
them: control.py, the bus side the fleet link and the API share, and decoder.py, the listen
actor's decode thread)."""
