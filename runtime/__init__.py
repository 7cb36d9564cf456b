"""EdgeTalker: an offline talking digital human for edge devices."""

__version__ = "0.1.0"
