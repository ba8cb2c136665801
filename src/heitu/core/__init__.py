"""Shared foundations: settings, catalog, storage, errors, progress."""
