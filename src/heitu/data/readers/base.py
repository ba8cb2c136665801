"""Types shared by every reader: the error record, the options, and the document constructor.

A reader is a generator ``(path, source_name, opts) -> Iterator[dict | ReadError]``. It never
raises for bad data: each problem becomes one `ReadError` and reading continues with the next
record when the format allows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from heitu.data.readers.html import DEFAULT_EXTRACTOR
from heitu.data.schema import make_doc_id, source_dict

# Stable error codes: the part of `ReadError.reason` before the first ':'. Downstream code
# (run stats, `explain`, quarantine files) groups errors by these; never rename one.
INVALID_JSON = "invalid_json"
INVALID_UTF8 = "invalid_utf8"
MISSING_TEXT = "missing_text"
TEXT_NOT_STRING = "text_not_string"
DOC_TOO_LARGE = "doc_too_large"
EMPTY_FILE = "empty_file"
BINARY_FILE = "binary_file"
TRUNCATED_COMPRESSED = "truncated_compressed"
WARC_BAD_HEADER = "warc_bad_header"
NO_TEXT = "no_text"
UNREADABLE = "unreadable"

ERROR_CODES = (
    INVALID_JSON,
    INVALID_UTF8,
    MISSING_TEXT,
    TEXT_NOT_STRING,
    DOC_TOO_LARGE,
    EMPTY_FILE,
    BINARY_FILE,
    TRUNCATED_COMPRESSED,
    WARC_BAD_HEADER,
    NO_TEXT,
    UNREADABLE,
)


@dataclass(frozen=True)
class ReadError:
    """One unreadable record (or a whole unreadable file when `offset` is None).

    offset: 1-based line for jsonl/text, 0-based row for parquet, byte offset of the record in the
    (compressed) stream for WARC, None for whole-file errors.
    reason: "<code>: <detail>" with <code> one of ERROR_CODES."""

    file: str
    offset: int | None
    reason: str

    @property
    def code(self) -> str:
        return self.reason.split(":", 1)[0]


@dataclass(frozen=True)
class ReaderOptions:
    """text_field / id_field: where the text and the id live in jsonl/parquet records.
    max_doc_bytes: a document larger than this (in UTF-8 bytes, or payload bytes for WARC) becomes a
    doc_too_large error and is never held whole in memory by the jsonl/text/WARC readers.
    extractor: HTML main-text extractor (see `heitu.data.readers.html.EXTRACTORS`)."""

    text_field: str = "text"
    id_field: str = "id"
    max_doc_bytes: int = 8 * 1024 * 1024
    extractor: str = DEFAULT_EXTRACTOR


def error(file: str, offset: int | None, code: str, detail: str = "") -> ReadError:
    return ReadError(file, offset, f"{code}: {detail}" if detail else code)


def make_doc(
    file: str,
    offset: int,
    text: str,
    doc_id: object = None,
    meta: dict | None = None,
    url: str | None = None,
    date: str | None = None,
) -> dict:
    """The document dict every reader yields. A missing/empty `doc_id` becomes a hash of
    (file, offset), so re-reading the same input always gives the same ids."""
    if doc_id is None or doc_id == "":
        doc_id = make_doc_id(file, offset)
    elif type(doc_id) is not str:
        doc_id = str(doc_id)
    return {
        "id": doc_id,
        "text": text,
        "source": source_dict(file, offset, url, date),
        "meta": orjson.dumps(meta, default=str).decode() if meta else None,
    }
