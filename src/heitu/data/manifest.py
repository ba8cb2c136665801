"""The run manifest and the dataset version id derived from it.

``manifest.json`` records the resolved spec and its hash, the input files with checksums, the
heitu version, the executor, counts in/out per step and per reason, and every output file with
its checksum. The version id hashes what determines the dataset — spec hash, input checksums
and output checksums — so the same inputs and spec give the same id on either executor.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from heitu.core.errors import UserError

MANIFEST_FORMAT = 1


def version_id(spec_hash: str, inputs: list[dict], outputs: list[dict]) -> str:
    payload = {
        "spec_hash": spec_hash,
        "inputs": sorted(i["sha256"] for i in inputs),
        "outputs": sorted((o["path"], o["sha256"]) for o in outputs if o["path"].startswith("data/")),
    }
    return "ds-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def merge_step_counts(stage_stats: list[dict], order: list[str]) -> list[dict]:
    merged: dict[str, dict] = {}
    for st in stage_stats:
        for name, c in st.get("steps", {}).items():
            m = merged.setdefault(name, {"in": 0, "out": 0, "dropped": {}})
            m["in"] += c["in"]
            m["out"] += c["out"]
            for r, n in c["dropped"].items():
                m["dropped"][r] = m["dropped"].get(r, 0) + n
    return [{"name": n, **merged.get(n, {"in": 0, "out": 0, "dropped": {}})} for n in order]


def read_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / "manifest.json"
    if not path.is_file():
        raise UserError(f"{out_dir} holds no manifest.json: it is not a finished heitu dataset "
                        f"(an interrupted run is finished with `heitu data run ... --resume`)")
    return json.loads(path.read_text(encoding="utf-8"))


def resolve_dataset(ref: str) -> tuple[Path, dict[str, Any]]:
    """A dataset by output folder or by version id (or an unambiguous prefix) from the catalog."""
    p = Path(ref)
    if p.is_dir():
        return p, read_manifest(p)
    from heitu.core.catalog import Catalog

    art = Catalog().get(ref, kind="dataset")
    out = Path(art.uri)
    if not out.is_dir():
        raise UserError(f"dataset {art.id} was written to {out}, which no longer exists")
    return out, read_manifest(out)
