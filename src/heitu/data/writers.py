"""Shard writers: sharded parquet (default) or jsonl.gz, rolled at a target size, each file
written under a temp name and renamed when complete."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from heitu.core.storage import tmp_path_for


class ShardWriter:
    """Writes record batches to ``{prefix}-{k:03d}.{ext}`` files, starting a new file when the
    current one reaches `max_bytes` (Arrow bytes) or — for parquet — when the schema changes
    (a later step may add columns only present when rows survive). Files become visible by an
    atomic rename in `close()`."""

    def __init__(self, folder: Path, prefix: str, fmt: str = "parquet", max_bytes: int = 256 << 20):
        self.folder = folder
        self.prefix = prefix
        self.fmt = fmt
        self.max_bytes = max_bytes
        self.files: list[Path] = []
        self.rows = 0
        self._k = 0
        self._writer = None
        self._schema: pa.Schema | None = None
        self._bytes = 0
        self._pending: list[tuple[Path, Path]] = []

    def _ext(self) -> str:
        return "parquet" if self.fmt == "parquet" else "jsonl.gz"

    def _open(self, schema: pa.Schema) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{self.prefix}-{self._k:03d}.{self._ext()}"
        tmp = tmp_path_for(final)
        self._k += 1
        if self.fmt == "parquet":
            self._writer = pq.ParquetWriter(tmp, schema, compression="zstd")
        else:
            # mtime=0 keeps the gzip header, and so the file checksum, reproducible
            self._writer = gzip.GzipFile(filename="", mode="wb", fileobj=open(tmp, "wb"), mtime=0)
        self._schema = schema
        self._bytes = 0
        self._pending.append((tmp, final))

    def _finish_current(self) -> None:
        if self._writer is None:
            return
        if self.fmt == "parquet":
            self._writer.close()
        else:
            raw = self._writer.fileobj
            self._writer.close()
            raw.close()
        self._writer = None

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is not None and (
            self._bytes >= self.max_bytes or (self.fmt == "parquet" and not batch.schema.equals(self._schema))
        ):
            self._finish_current()
        if self._writer is None:
            self._open(batch.schema)
        if self.fmt == "parquet":
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            self._writer.write_table(table)
        else:
            dumps = orjson.dumps
            self._writer.write(b"".join(dumps(row) + b"\n" for row in batch.to_pylist()))
        self._bytes += batch.nbytes
        self.rows += batch.num_rows

    def close(self) -> list[Path]:
        """Finish and atomically publish every file; returns the final paths."""
        self._finish_current()
        for tmp, final in self._pending:
            os.replace(tmp, final)
            self.files.append(final)
        self._pending = []
        return self.files

    def abort(self) -> None:
        self._finish_current()
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        self._pending = []
