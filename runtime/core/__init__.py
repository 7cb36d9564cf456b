"""The kernel every actor shares: bus, messages, actor base, supervisor, errors, config."""
