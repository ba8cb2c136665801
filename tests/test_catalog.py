"""The catalog on SQLite (default) and on a real PostgreSQL server started by the test."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from heitu.core.catalog import Catalog
from heitu.core.errors import UserError


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="module")
def postgres_url():
    """Start a throwaway PostgreSQL server (initdb + pg_ctl as the postgres user); stop it after."""
    bindir = _pg_bin()
    if bindir is None or shutil.which("runuser") is None:
        if os.environ.get("HEITU_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required here (HEITU_REQUIRE_POSTGRES=1) but initdb was not found")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    root = tempfile.mkdtemp(prefix="heitu-pg-")
    os.chmod(root, 0o777)
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.mkdir(sock)
    os.chmod(sock, 0o777)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_pg, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*as_pg, f"{bindir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(root, "log"), "-o",
                    f"-k {sock} -p {port} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_pg, f"{bindir}/createdb", "-h", sock, "-p", str(port), "-U", "postgres", "heitu"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@/heitu?host={sock}&port={port}"
    finally:
        subprocess.run([*as_pg, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, heitu_home):
    if request.param == "sqlite":
        return Catalog()
    return Catalog(request.getfixturevalue("postgres_url"))


def test_register_lineage_and_lookup(catalog):
    catalog.ensure(id="src-1", kind="source", name="a.jsonl", uri="/data/a.jsonl", summary={"bytes": 10})
    catalog.ensure(id="src-1", kind="source", name="a.jsonl", uri="/data/a.jsonl", summary={"bytes": 10})
    catalog.register(id="ds-abc123", kind="dataset", name="zh-web", uri="/out", summary={"docs_kept": 5},
                     record={"spec_hash": "x", "counts": {"steps": []}}, parents=[("src-1", "input_of")])
    # registering the same version again updates it, without duplicating edges
    catalog.register(id="ds-abc123", kind="dataset", name="zh-web", uri="/out", summary={"docs_kept": 5},
                     record={"spec_hash": "x"}, parents=[("src-1", "input_of")])
    ds = catalog.get("ds-abc", kind="dataset")
    assert ds.id == "ds-abc123" and ds.summary == {"docs_kept": 5} and ds.record == {"spec_hash": "x"}
    assert [(p.id, rel) for p, rel in catalog.parents("ds-abc123")] == [("src-1", "input_of")]
    assert [a.id for a in catalog.list(kind="dataset")] == ["ds-abc123"]
    with pytest.raises(UserError, match="no dataset 'ds-zzz'"):
        catalog.get("ds-zzz", kind="dataset")


def test_unreachable_catalog_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="cannot open the catalog"):
        Catalog(f"sqlite:///{tmp_path}/no/such/dir/catalog.db")


def test_default_catalog_lives_in_the_workspace(heitu_home):
    Catalog()
    assert (heitu_home / "catalog.db").is_file()


def test_pipeline_registers_into_postgres(postgres_url, tmp_path, monkeypatch, shared_data):
    """The same run code records a dataset version in PostgreSQL when HEITU_CATALOG_URL points there."""
    from heitu.core.settings import get_settings
    from heitu.data.run import run_pipeline

    from conftest import real_docs, write_jsonl

    monkeypatch.setenv("HEITU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HEITU_CATALOG_URL", postgres_url)
    get_settings.cache_clear()
    try:
        write_jsonl(tmp_path / "in.jsonl", real_docs(shared_data, n_zh=20, n_en=2))
        spec = tmp_path / "s.yaml"
        spec.write_text("name: pg-test\nsteps:\n  - type: exact_dedup\n")
        res = run_pipeline(spec, [str(tmp_path / "in.jsonl")], tmp_path / "out", show_progress=False)
        got = Catalog().get(res.version, kind="dataset")
        assert got.record["counts"]["docs_read"] == 22
    finally:
        get_settings.cache_clear()
