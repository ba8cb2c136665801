"""Input expansion: glob patterns / directories / fsspec URLs -> (url_or_path, source_name).

source_name is what document ids and `source.file` are derived from, so it must not depend on
where the data happens to be mounted: it is the path relative to the pattern's non-wildcard base
directory for local files, and the full URL for remote ones.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

import fsspec
from fsspec.core import url_to_fs

from heitu.core.errors import UserError

_GLOB_CHARS = ("*", "?", "[")
# Hidden files and Hadoop/Spark markers (.crc, _SUCCESS, _metadata) are never data: the same rule
# pyarrow.dataset applies when it lists a directory.
_IGNORED_PREFIXES = (".", "_")


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _glob_base(path: str) -> str:
    """The directory part of `path` before its first wildcard component."""
    parts = PurePosixPath(path).parts
    base = []
    for part in parts:
        if any(c in part for c in _GLOB_CHARS):
            break
        base.append(part)
    return str(PurePosixPath(*base)) if base else ""


def _visible(path: str, base: str) -> bool:
    rel = path[len(base) :].lstrip("/") if base and path.startswith(base) else path
    return not any(p.startswith(_IGNORED_PREFIXES) for p in rel.split("/") if p)


def expand_inputs(patterns: list[str]) -> list[tuple[str, str]]:
    """Glob patterns or fsspec URLs (local paths, file://, s3://...) -> sorted, de-duplicated list
    of (url_or_path, source_name). A directory means every file under it (recursively). Hidden and
    `_`-prefixed files are skipped unless named explicitly. Raises UserError for a pattern matching nothing, or for two
    different files that would share a source name (their ids would collide)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    found: dict[str, str] = {}
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        fs, path = url_to_fs(expanded)
        local = _is_local(fs)
        if any(c in path for c in _GLOB_CHARS):
            base = _glob_base(path)
            matches = []
            for m in sorted(fs.glob(path)):
                if fs.isdir(m):
                    matches += [p for p in fs.find(m) if _visible(p, base)]
                elif _visible(m, base):  # like a shell glob, `*` does not match dotfiles
                    matches.append(m)
        elif fs.isdir(path):
            base = path.rstrip("/")
            matches = [p for p in fs.find(path) if _visible(p, base)]
        elif fs.exists(path):
            base = str(PurePosixPath(path).parent)
            matches = [path]
        else:
            matches = []
        if not matches:
            raise UserError(f"No input file matches {pattern!r}.")
        for m in matches:
            if local:
                url = m
                name = os.path.relpath(m, base) if base else m
                name = name.replace(os.sep, "/")
            else:
                url = fs.unstrip_protocol(m)
                name = url
            found.setdefault(url, name)
    by_name: dict[str, str] = {}
    for url, name in found.items():
        if by_name.setdefault(name, url) != url:
            raise UserError(
                f"Inputs {by_name[name]!r} and {url!r} both get the source name {name!r}, so their "
                "document ids would collide. Give one pattern with a common parent directory instead."
            )
    return sorted(found.items())
