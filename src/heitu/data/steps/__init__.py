"""Pipeline steps. Importing this package registers every built-in step type."""

from heitu.data.steps.base import STEP_TYPES, Annotator, Filter, GlobalStep, Step, Transform, register

__all__ = ["STEP_TYPES", "Annotator", "Filter", "GlobalStep", "Step", "Transform", "register", "load_builtin_steps"]


def load_builtin_steps() -> None:
    """Import the modules that define the built-in steps (each registers itself)."""
    import importlib

    for mod in ("normalize", "pii", "lang", "english", "chinese", "select", "dedup", "quality", "minhash"):
        importlib.import_module(f"heitu.data.steps.{mod}")
