"""Model wrappers: no bus, no threads, no global config; one file per backend."""
