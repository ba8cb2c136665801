"""Parquet reader: pyarrow record batches, offset = 0-based row index in the file.

Contract: iterates batches (bounded by one batch, never the whole file); the text column must be a
string column; every other column (except the id column) goes into `meta`. A file pyarrow cannot
open, or one without a usable text column, is one whole-file ReadError.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from heitu.data.readers.base import (
    DOC_TOO_LARGE,
    EMPTY_FILE,
    MISSING_TEXT,
    TEXT_NOT_STRING,
    UNREADABLE,
    ReaderOptions,
    ReadError,
    error,
)
from heitu.data.readers.compression import open_raw
from heitu.data.schema import make_doc_id

_BATCH_ROWS = 1024


def _meta_rows(batch: pa.RecordBatch) -> list[str | None]:
    if batch.num_columns == 0:
        return [None] * batch.num_rows
    # default=str: parquet types JSON lacks (decimal, bytes, dates) become their string form
    return [orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS).decode() for row in batch.to_pylist()]


def read_parquet(path: str, name: str, opts: ReaderOptions) -> Iterator[dict | ReadError]:
    """Documents of one parquet file; see the module docstring for the contract."""
    import pyarrow.parquet as pq

    try:
        f = open_raw(path)
        pf = pq.ParquetFile(f)
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError...: not a readable parquet file
        yield error(name, None, UNREADABLE, f"not a readable parquet file: {exc}")
        return
    schema = pf.schema_arrow
    tf, idf = opts.text_field, opts.id_field
    if tf not in schema.names:
        yield error(name, None, MISSING_TEXT, f"no column {tf!r} (columns: {', '.join(schema.names)})")
        return
    ttype = schema.field(tf).type
    if not (pa.types.is_string(ttype) or pa.types.is_large_string(ttype)):
        yield error(name, None, TEXT_NOT_STRING, f"column {tf!r} has type {ttype}")
        return
    if pf.metadata.num_rows == 0:
        yield error(name, None, EMPTY_FILE, "zero rows")
        return
    has_id = idf in schema.names and idf != tf
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=_BATCH_ROWS):
            texts_arr = batch.column(tf)
            sizes = pc.binary_length(texts_arr).to_pylist()
            texts = texts_arr.to_pylist()
            ids = batch.column(idf).to_pylist() if has_id else [None] * batch.num_rows
            rest = batch.drop_columns([c for c in (tf, idf) if c in batch.schema.names])
            metas = _meta_rows(rest)
            for text, size, doc_id, meta in zip(texts, sizes, ids, metas):
                if text is None:
                    yield error(name, row, MISSING_TEXT, f"{tf!r} is null")
                elif size > opts.max_doc_bytes:
                    yield error(name, row, DOC_TOO_LARGE, f"text of {size} bytes > {opts.max_doc_bytes}")
                else:
                    if doc_id is None or doc_id == "":
                        doc_id = make_doc_id(name, row)
                    yield {
                        "id": doc_id if type(doc_id) is str else str(doc_id),
                        "text": text,
                        "source": {"file": name, "offset": row, "url": None, "date": None},
                        "meta": meta,
                    }
                row += 1
    except Exception as exc:  # noqa: BLE001 - a corrupt row group: keep what was read
        yield error(name, row, UNREADABLE, f"corrupt parquet data at row {row}: {exc}")
    finally:
        f.close()
