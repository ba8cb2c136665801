"""Typed errors. A `UserError` is a user mistake: the CLI prints its message as one
paragraph, never a traceback (unless --debug)."""

from __future__ import annotations

import importlib
from types import ModuleType


class HeituError(Exception):
    """Base of every error heitu raises on purpose."""


class UserError(HeituError):
    """Bad input, bad spec, bad flag: something the user can fix. The message says what and where."""


class MissingExtra(UserError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, feature: str):
        super().__init__(
            f"{feature} needs the Python package '{package}', which is not installed. "
            f"Install it with: pip install 'heitu[{extra}]'"
        )
        self.package = package
        self.extra = extra
        self.feature = feature

    def __reduce__(self):  # raised in worker processes: must survive pickling back to the parent
        return (type(self), (self.package, self.extra, self.feature))


def require(module: str, *, extra: str, feature: str, package: str | None = None) -> ModuleType:
    """Import `module` lazily; a missing optional dependency names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised by the extras test
        raise MissingExtra(package or module.split(".")[0], extra, feature) from exc
