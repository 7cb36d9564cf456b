"""The model store: the manifest, verification, resolving and fetching."""
