"""JSON Lines reader (.jsonl / .json with one object per line, optionally gzip/zstd/bz2/xz).

Contract: streams the file in blocks of at most 1 MiB; memory stays under ~2 x max_doc_bytes + one
block whatever the line lengths (an over-long line is skipped up to its newline without being
kept, and becomes one doc_too_large error; JSON is never decoded for it). Offsets are 1-based line numbers; blank lines are skipped but
counted. Each bad line becomes one ReadError and reading goes on with the next line.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from heitu.data.readers.base import (
    BINARY_FILE,
    DOC_TOO_LARGE,
    EMPTY_FILE,
    INVALID_JSON,
    INVALID_UTF8,
    MISSING_TEXT,
    TEXT_NOT_STRING,
    TRUNCATED_COMPRESSED,
    UNREADABLE,
    ReaderOptions,
    ReadError,
    error,
)
from heitu.data.readers.compression import CorruptStream, TruncatedStream, iter_decompressed, open_raw
from heitu.data.schema import make_doc_id

_SNIFF_BYTES = 8192
_MISSING = object()


def looks_binary(head: bytes) -> bool:
    """NUL bytes, or many control bytes, in the first block: not a text file (or UTF-16/32)."""
    sample = head[:_SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    controls = sum(sample.count(bytes([c])) for c in (*range(1, 8), 11, *range(14, 27), *range(28, 32), 127))
    return bool(sample) and controls / len(sample) > 0.1


def _parse(line: bytes, name: str, lineno: int, opts: ReaderOptions) -> dict | ReadError:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return error(name, lineno, INVALID_UTF8, f"invalid UTF-8 byte at column {uexc.start + 1}")
        # strict RFC 8259: NaN/Infinity and unpaired surrogate escapes are invalid here too
        # (a lone surrogate could not even be written to Arrow later)
        return error(name, lineno, INVALID_JSON, f"{exc.msg} at column {exc.colno}")
    if type(obj) is not dict:
        return error(name, lineno, INVALID_JSON, f"expected a JSON object, got {type(obj).__name__}")
    text = obj.pop(opts.text_field, _MISSING)
    if text is _MISSING or text is None:
        return error(name, lineno, MISSING_TEXT, f"no {opts.text_field!r} field")
    if type(text) is not str:
        return error(name, lineno, TEXT_NOT_STRING, f"{opts.text_field!r} is a {type(text).__name__}")
    doc_id = obj.pop(opts.id_field, None)
    if doc_id is None or doc_id == "":
        doc_id = make_doc_id(name, lineno)
    elif type(doc_id) is not str:
        doc_id = str(doc_id)
    meta = orjson.dumps(obj).decode() if obj else None
    # Inlined schema.source_dict/make_doc: this is the hot loop of the whole data engine.
    return {
        "id": doc_id,
        "text": text,
        "source": {"file": name, "offset": lineno, "url": None, "date": None},
        "meta": meta,
    }


def read_jsonl(path: str, name: str, opts: ReaderOptions) -> Iterator[dict | ReadError]:
    """Documents of one JSON Lines file; see the module docstring for the contract."""
    max_bytes = opts.max_doc_bytes
    lineno = 0
    records = 0  # non-blank lines seen
    carry: list[bytes] = []  # pieces of the line that spans blocks
    carry_len = 0
    skipping = False  # inside a line longer than max_bytes: drop bytes until its newline
    try:
        raw = open_raw(path)
    except OSError as exc:
        yield error(name, None, UNREADABLE, str(exc))
        return
    try:
        first = True
        for block in iter_decompressed(raw, _SNIFF_BYTES):
            if first:  # the first block holds >= _SNIFF_BYTES unless the file is shorter
                first = False
                if looks_binary(block):
                    yield error(name, None, BINARY_FILE, "NUL or control bytes: not a UTF-8 text file")
                    return
            start = 0
            if carry_len or skipping:
                nl = block.find(b"\n")
                if nl < 0:
                    carry_len += len(block)
                    if not skipping:
                        carry.append(block)
                        if carry_len > max_bytes:
                            skipping, carry = True, []
                    continue
                lineno += 1
                records += 1
                if skipping or carry_len + nl > max_bytes:
                    yield error(name, lineno, DOC_TOO_LARGE, f"line of {carry_len + nl} bytes > {max_bytes}")
                else:
                    line = b"".join(carry) + block[:nl]
                    if line and not line.isspace():
                        yield _parse(line, name, lineno, opts)
                    else:
                        records -= 1
                carry, carry_len, skipping = [], 0, False
                start = nl + 1
            lines = (block[start:] if start else block).split(b"\n")
            tail = lines.pop()
            for line in lines:
                lineno += 1
                if not line or line.isspace():
                    continue
                records += 1
                if len(line) > max_bytes:
                    yield error(name, lineno, DOC_TOO_LARGE, f"line of {len(line)} bytes > {max_bytes}")
                else:
                    yield _parse(line, name, lineno, opts)
            if tail:
                carry_len = len(tail)
                if carry_len > max_bytes:
                    skipping = True
                else:
                    carry = [tail]
    except TruncatedStream as exc:
        yield error(name, lineno + 1, TRUNCATED_COMPRESSED, f"{exc}; stopped at line {lineno + 1}")
        return
    except CorruptStream as exc:
        yield error(name, lineno + 1, UNREADABLE, f"corrupt compressed data at line {lineno + 1}: {exc}")
        return
    except OSError as exc:
        yield error(name, lineno + 1 if lineno else None, UNREADABLE, str(exc))
        return
    finally:
        raw.close()
    # last line without a trailing newline
    if carry_len or skipping:
        lineno += 1
        records += 1
        if skipping:
            yield error(name, lineno, DOC_TOO_LARGE, f"line of {carry_len} bytes > {max_bytes}")
        else:
            line = b"".join(carry)
            if line.isspace():
                records -= 1
            else:
                yield _parse(line, name, lineno, opts)
    if records == 0:
        yield error(name, None, EMPTY_FILE, "no records" if lineno else "zero bytes")
