"""The document record. A document is one row of an Arrow record batch:

- ``id``     stable string id (given by the input, else derived from source file and offset)
- ``text``   the text
- ``source`` struct: ``file`` (path relative to the input root, or URL of a remote file),
             ``offset`` (jsonl: 1-based line; parquet: row; WARC: byte offset of the record;
             text folder: 0), ``url`` (page URL, when known), ``date`` (fetch date, when known)
- ``meta``   JSON object as a string: every other field of the input record

Steps add signal columns (``gopher_word_count_v1``…) beside these.
"""

from __future__ import annotations

import pyarrow as pa
import xxhash

SOURCE_TYPE = pa.struct(
    [
        pa.field("file", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("url", pa.string()),
        pa.field("date", pa.string()),
    ]
)

DOC_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source", SOURCE_TYPE),
        pa.field("meta", pa.string()),
    ]
)

BASE_COLUMNS = tuple(DOC_SCHEMA.names)


def make_doc_id(file: str, offset: int) -> str:
    """Stable id for a document whose input gave none: a hash of where it came from."""
    return xxhash.xxh3_64_hexdigest(f"{file}\x00{offset}".encode())


def source_dict(file: str, offset: int, url: str | None = None, date: str | None = None) -> dict:
    return {"file": file, "offset": offset, "url": url, "date": date}


def source_label(src: dict | None) -> str:
    """Human-readable 'file:offset (url)' for errors and `explain`."""
    if not src:
        return "?"
    label = f"{src.get('file')}:{src.get('offset')}"
    if src.get("url"):
        label += f" ({src['url']})"
    return label
