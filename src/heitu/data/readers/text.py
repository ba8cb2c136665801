"""Whole-file readers: plain text (.txt/.md) and HTML pages (.html/.htm), one file = one document
at offset 0, id derived from the source name (so a folder of text files gives stable ids).

Contract: a file larger than max_doc_bytes is a doc_too_large error and is not read past that
limit. Text is UTF-8 (BOM tolerated); legacy encodings (GBK...) are detected by charset-normalizer.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator

from heitu.data.readers.base import (
    BINARY_FILE,
    DOC_TOO_LARGE,
    EMPTY_FILE,
    INVALID_UTF8,
    NO_TEXT,
    TRUNCATED_COMPRESSED,
    UNREADABLE,
    ReaderOptions,
    ReadError,
    error,
    make_doc,
)
from heitu.data.readers.compression import CorruptStream, TruncatedStream, iter_decompressed, open_raw
from heitu.data.readers.html import decode_html, extract_main_text
from heitu.data.readers.jsonl import looks_binary


def _read_capped(path: str, name: str, limit: int) -> bytes | ReadError:
    """The decompressed bytes of `path`, or an error; stops reading once past `limit`."""
    parts, size = [], 0
    try:
        with open_raw(path) as raw:
            for chunk in iter_decompressed(raw):
                size += len(chunk)
                if size > limit:
                    return error(name, 0, DOC_TOO_LARGE, f"file of more than {limit} bytes")
                parts.append(chunk)
    except TruncatedStream as exc:
        return error(name, 0, TRUNCATED_COMPRESSED, str(exc))
    except (CorruptStream, OSError) as exc:
        return error(name, None, UNREADABLE, str(exc))
    data = b"".join(parts)
    if not data.strip():
        return error(name, None, EMPTY_FILE, "zero bytes" if not data else "only whitespace")
    return data


def decode_text(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), else the encoding charset-normalizer is sure of, else None."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best is not None else None


def read_text(path: str, name: str, opts: ReaderOptions) -> Iterator[dict | ReadError]:
    data = _read_capped(path, name, opts.max_doc_bytes)
    if isinstance(data, ReadError):
        yield data
        return
    if looks_binary(data):
        yield error(name, None, BINARY_FILE, "NUL or control bytes: not a text file")
        return
    text = decode_text(data)
    if text is None:
        yield error(name, 0, INVALID_UTF8, "neither UTF-8 nor a detectable legacy encoding")
        return
    yield make_doc(name, 0, text)


def read_html(path: str, name: str, opts: ReaderOptions) -> Iterator[dict | ReadError]:
    data = _read_capped(path, name, opts.max_doc_bytes)
    if isinstance(data, ReadError):
        yield data
        return
    text = extract_main_text(decode_html(data), opts.extractor)
    if not text:
        yield error(name, 0, NO_TEXT, f"{opts.extractor} found no main text")
        return
    yield make_doc(name, 0, text, meta={"extractor": opts.extractor})
