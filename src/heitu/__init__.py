"""heitu (黑土): raw text to a served, secured, traceable large model."""

__version__ = "0.1.0"
__all__ = ["__version__"]
