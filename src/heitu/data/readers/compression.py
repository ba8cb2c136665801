"""Opening inputs (any fsspec URL) and streaming their decompressed bytes.

We decompress ourselves instead of using fsspec's `compression=`: fsspec/zstandard readers stop
silently at a truncated stream (half a file would look like a whole one), while a decompressor
object tells us exactly whether the stream reached its end marker. The codec is sniffed from the
magic bytes, so a gzip file named `.jsonl` is still read correctly.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import fsspec

COMPRESSION_SUFFIXES = (".gz", ".zst", ".zstd", ".bz2", ".xz")
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
_RAW_CHUNK = 256 << 10  # compressed bytes per call (a codec error loses that call's output)
_ZSTD_CHUNK = 64 << 10  # zstd's decompressobj has no max_length: feed it less at a time
# most decompressed bytes per step: bounds memory on zip bombs, and limits what a codec error
# (raised for the whole call) loses of the good data before the damage
_OUT_CHUNK = 1 << 20


class TruncatedStream(Exception):
    """The compressed stream ended before its end-of-stream marker."""


class CorruptStream(Exception):
    """The compressed stream holds data its codec cannot decode."""


def open_raw(path: str) -> BinaryIO:
    """Open a local path or fsspec URL for binary reading, without any decompression."""
    return fsspec.open(path, "rb", compression=None).open()


def sniff_codec(head: bytes) -> str | None:
    for magic, codec in _MAGIC.items():
        if head.startswith(magic):
            return codec
    return None


def _new_decompressor(codec: str):
    if codec == "gzip":
        return zlib.decompressobj(wbits=31)
    if codec == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()
    if codec == "bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor()


def _feed(d, codec: str, data: bytes) -> Iterator[bytes]:
    """Feed all of `data` to `d`, yielding output in bounded pieces where the codec allows it."""
    if codec == "zstd":
        yield d.decompress(data)
    elif codec == "gzip":
        out = d.decompress(data, _OUT_CHUNK)
        # drain: input left over (unconsumed_tail) or output zlib still holds after a full buffer
        while out:
            yield out
            if d.eof:
                break
            out = d.decompress(d.unconsumed_tail, _OUT_CHUNK)
    else:  # bz2 / lzma keep unconsumed input internally
        yield d.decompress(data, _OUT_CHUNK)
        while not d.eof and not d.needs_input:
            yield d.decompress(b"", _OUT_CHUNK)


def iter_decompressed(raw: BinaryIO, first_block: int = 64 << 10) -> Iterator[bytes]:
    """Decompressed chunks of `raw`; plain bytes pass through. The first chunk holds at least
    `first_block` bytes unless the stream is shorter (so callers can sniff the content from it).
    Concatenated members/frames are all read; NUL padding after the last one is tolerated (as
    gzip(1) does). Raises TruncatedStream or CorruptStream at the point of failure, after yielding
    every byte decoded before it."""
    buf: list[bytes] = []
    size = 0
    chunks = _iter_decompressed(raw)
    try:
        for chunk in chunks:
            if size < first_block:
                buf.append(chunk)
                size += len(chunk)
                if size >= first_block:
                    yield b"".join(buf)
                    buf = []
                continue
            yield chunk
    except (TruncatedStream, CorruptStream):
        if buf:
            yield b"".join(buf)
        raise
    if buf:
        yield b"".join(buf)


def _iter_decompressed(raw: BinaryIO) -> Iterator[bytes]:
    head = raw.read(6)
    codec = sniff_codec(head)
    if codec is None:
        if head:
            yield head
        while chunk := raw.read(_RAW_CHUNK):
            yield chunk
        return
    magic = next(m for m, c in _MAGIC.items() if c == codec)
    chunk_size = _ZSTD_CHUNK if codec == "zstd" else _RAW_CHUNK
    d = None  # None between members/frames
    data = head
    while True:
        if d is None:
            data = data.lstrip(b"\x00")
            if len(data) < len(magic):
                more = raw.read(chunk_size)
                if not more:
                    if data:
                        raise CorruptStream(f"{codec}: {len(data)} stray bytes after the last member")
                    return  # clean end
                data += more
                continue
            if not data.startswith(magic):
                raise CorruptStream(f"{codec}: data after a complete member is not another {codec} member")
            d = _new_decompressor(codec)
        elif not data:
            data = raw.read(chunk_size)
            if not data:
                raise TruncatedStream(f"{codec} stream ended before its end marker")
        try:
            for out in _feed(d, codec, data):
                if out:
                    yield out
        except Exception as exc:  # zlib.error, OSError, EOFError, LZMAError, zstandard.ZstdError
            raise CorruptStream(f"{codec}: {exc}") from exc
        data = b""
        if d.eof:
            data, d = d.unused_data, None
