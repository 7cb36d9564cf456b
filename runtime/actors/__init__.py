"""Bus-facing actors, one file each; they adapt the bus to an engine and hold no model code."""
