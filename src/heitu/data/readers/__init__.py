"""Input readers of the data engine: files -> document dicts (see `heitu.data.schema`) or ReadErrors.

    for url, name in expand_inputs(["data/**/*.jsonl.gz", "s3://bucket/crawl/"]):
        for item in read_documents(url, name, ReaderOptions()):
            if isinstance(item, ReadError): ...   # bad record: log/quarantine, keep going

Formats (by file name, compression suffix stripped first; the codec itself is sniffed from the
bytes, so a truncated or mis-named file is still detected):

    .jsonl .json .ndjson        one JSON object per line            offset = 1-based line
    .parquet                    pyarrow batches                     offset = 0-based row
    .txt .md .text              one file = one document             offset = 0
    .html .htm                  one page = one document (extracted) offset = 0
    .warc .wet (.gz)            WARC/WET records                    offset = record byte offset
    .arc (.gz)                  legacy ARC records (warcio)         offset = record byte offset

Readers never raise for bad data; `read_documents` raises UserError only for an unsupported type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from heitu.core.errors import UserError
from heitu.data.readers.base import ERROR_CODES, ReaderOptions, ReadError
from heitu.data.readers.compression import COMPRESSION_SUFFIXES
from heitu.data.readers.inputs import expand_inputs

__all__ = [
    "ERROR_CODES",
    "ReadError",
    "ReaderOptions",
    "detect_format",
    "expand_inputs",
    "read_documents",
]

# WARC-family files are compressed per record (the offsets point into the compressed stream), so
# their readers take the raw file; every other reader decompresses transparently.
_WARC_SUFFIXES = {".warc": "warc", ".wet": "warc", ".wat": "warc", ".arc": "arc"}
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".html": "html",
    ".htm": "html",
}


def detect_format(name: str) -> str | None:
    """'jsonl' | 'parquet' | 'text' | 'html' | 'warc' | 'arc', or None if unsupported."""
    lower = name.lower().rsplit("/", 1)[-1]
    comp = next((c for c in COMPRESSION_SUFFIXES if lower.endswith(c)), "")
    stem = lower[: len(lower) - len(comp)]
    suffix = stem[stem.rfind(".") :] if "." in stem else ""
    if suffix in _WARC_SUFFIXES:
        return _WARC_SUFFIXES[suffix] if comp in ("", ".gz") else None
    if _SUFFIXES.get(suffix) == "parquet":
        return None if comp else "parquet"  # parquet compresses internally
    return _SUFFIXES.get(suffix)


def _reader(fmt: str) -> Callable[[str, str, ReaderOptions], Iterator[dict | ReadError]]:
    # Imported on demand: WARC/HTML support pulls optional dependencies (the `web` extra).
    if fmt == "jsonl":
        from heitu.data.readers.jsonl import read_jsonl as fn
    elif fmt == "parquet":
        from heitu.data.readers.parquet import read_parquet as fn
    elif fmt == "text":
        from heitu.data.readers.text import read_text as fn
    elif fmt == "html":
        from heitu.data.readers.text import read_html as fn
    elif fmt == "warc":
        from heitu.data.readers.warc import read_warc as fn
    else:
        from heitu.data.readers.warc import read_arc as fn
    return fn


def read_documents(path: str, source_name: str, opts: ReaderOptions | None = None) -> Iterator[dict | ReadError]:
    """Documents of one input file, dispatched by its name: dicts {"id", "text", "source": {"file",
    "offset", "url", "date"}, "meta": JSON string or None}, interleaved with ReadErrors for bad
    records. Never raises for bad data; raises UserError for an unsupported file type."""
    fmt = detect_format(source_name) or detect_format(path)
    if fmt is None:
        raise UserError(
            f"Unsupported input file {source_name!r}: expected .jsonl/.json, .parquet, .txt/.md, .html, "
            f".warc/.wet/.arc (optionally .gz; jsonl/text also .zst/.bz2/.xz)."
        )
    return _reader(fmt)(path, source_name, opts or ReaderOptions())
