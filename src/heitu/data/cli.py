"""`heitu data …` commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


def _console():
    from rich.console import Console

    return Console()


@app.command()
def run(
    spec: Path = typer.Argument(..., help="Pipeline YAML, e.g. recipes/zh-web.yaml."),
    input: list[str] = typer.Option(..., "--input", "-i", help="Input glob, folder or fsspec URL (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder of the dataset version."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted run in the same output folder."),
    max_errors: int = typer.Option(None, "--max-errors", min=0, help="Fail once more than N records cannot be read."),
    executor: str = typer.Option("local", "--executor",
                                 help="local (process pool) or ray (Ray tasks; see --ray-address)."),
    ray_address: str = typer.Option(None, "--ray-address",
                                    help="Ray cluster to run on (host:port, or auto); without it, "
                                         "--executor ray starts a local Ray instance of --workers CPUs."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not record the dataset in the catalog."),
) -> None:
    """Run a pipeline: read, annotate, select, redact, dedup; write data, rejects, ledger, manifest."""
    from heitu.core.errors import UserError
    from heitu.data.run import run_pipeline

    if ray_address and executor != "ray":
        raise UserError("--ray-address needs --executor ray")
    res = run_pipeline(spec, input, output, workers=workers, resume=resume, max_errors=max_errors,
                       executor=executor, ray_address=ray_address, register=not no_register)
    _print_summary(res.out_dir, res.manifest)


@app.command()
def dedup(
    input: list[str] = typer.Option(..., "--input", "-i", help="Input glob, folder or fsspec URL (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder of the deduplicated dataset version."),
    threshold: float = typer.Option(0.8, "--threshold", "-t", help="Jaccard similarity above which documents are near-duplicates."),
    ngram: int = typer.Option(None, "--ngram", "-n", help="Shingle size (default: 4 words, or 5 characters for Chinese/Japanese)."),
    keep: str = typer.Option("first", "--keep", help="Which copy to keep: first, longest, newest, highest."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes (or Ray tasks at once)."),
    executor: str = typer.Option("local", "--executor", help="local (process pool) or ray."),
    ray_address: str = typer.Option(None, "--ray-address", help="Ray cluster address (with --executor ray); default: start a local Ray."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted run in the same output folder."),
) -> None:
    """Near-duplicate removal (MinHash LSH, verified by exact Jaccard) as a one-step pipeline."""
    from heitu.data.steps.minhash import dedup_command

    res = dedup_command(input, output, threshold, ngram, workers, keep=keep, executor=executor,
                        ray_address=ray_address, resume=resume)
    _print_summary(res.out_dir, res.manifest)


def _print_summary(out_dir: Path, m: dict) -> None:
    from rich.table import Table

    c = m["counts"]
    con = _console()
    table = Table(title=f"{m['name']} → {m['version']}", show_lines=False)
    table.add_column("step")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("dropped (reason: count)")
    for st in c["steps"]:
        drops = ", ".join(f"{r}: {n:,}" for r, n in sorted(st["dropped"].items(), key=lambda x: -x[1]))
        table.add_row(st["name"], f"{st['in']:,}", f"{st['out']:,}", drops)
    con.print(table)
    rate = c["docs_read"] / m["duration_s"] if m["duration_s"] else 0
    con.print(f"read {c['docs_read']:,} documents ({c['text_bytes_read'] / 1e6:,.1f} MB of text) in "
              f"{m['duration_s']:.1f}s ({rate:,.0f} docs/s); kept {c['docs_kept']:,}; "
              f"{c['read_errors']:,} records could not be read"
              + (f" ({', '.join(f'{k}: {v}' for k, v in c['read_errors_by_reason'].items())}; see {out_dir}/errors)"
                 if c["read_errors"] else ""))
    con.print(f"dataset {m['version']} written to {out_dir}")


@app.command("ls")
def ls() -> None:
    """List dataset versions in the catalog."""
    from rich.table import Table

    from heitu.core.catalog import Catalog

    table = Table()
    for col in ("version", "name", "created", "docs read", "docs kept", "location"):
        table.add_column(col)
    for a in Catalog().list(kind="dataset"):
        s = a.summary
        table.add_row(a.id, a.name, a.created_at.strftime("%Y-%m-%d %H:%M"), f"{s.get('docs_read', 0):,}",
                      f"{s.get('docs_kept', 0):,}", a.uri)
    _console().print(table)


@app.command()
def show(
    version: str = typer.Argument(..., help="Dataset version id (or prefix) or output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Show how a dataset version was made: spec, inputs, counts per step and reason, outputs."""
    from heitu.data.manifest import resolve_dataset

    out_dir, m = resolve_dataset(version)
    if as_json:
        sys.stdout.write(json.dumps(m, indent=2, ensure_ascii=False) + "\n")
        return
    con = _console()
    con.print(f"[bold]{m['version']}[/]  {m['name']}  (spec {m['spec_hash'][:12]}, heitu {m['heitu_version']}, "
              f"{m['executor']['kind']} × {m['executor']['workers']}, {m['created_at']})")
    con.print(f"location: {out_dir}")
    con.print("inputs:")
    for i in m["inputs"]:
        con.print(f"  {i['file']}  {i['bytes']:,} bytes  sha256 {i['sha256'][:16]}…")
    _print_summary(out_dir, m)
    n_data = sum(1 for o in m["outputs"] if o["path"].startswith("data/"))
    con.print(f"outputs: {len(m['outputs'])} files ({n_data} data shards); `heitu data show {m['version'][:12]} --json` for all")


@app.command()
def explain(
    dataset: str = typer.Argument(..., help="Output folder or dataset version id."),
    doc_id: str = typer.Argument(..., help="Document id."),
) -> None:
    """Print a document's trail from its source to its final fate, step by step."""
    from heitu.data.ledger import explain as explain_doc
    from heitu.data.manifest import resolve_dataset
    from heitu.data.schema import source_label

    out_dir, m = resolve_dataset(dataset)
    con = _console()
    for trail in explain_doc(out_dir, m, doc_id):
        con.print(f"[bold]{trail.doc_id}[/]  from {source_label(trail.source)}"
                  + (f"  fetched {trail.source['date']}" if trail.source.get("date") else ""))
        for ev in trail.events:
            sig = ", ".join(f"{k}={_fmt(v)}" for k, v in ev.signals.items())
            if ev.decision is None and not ev.signals:
                mark = "[dim]·[/] not reached" if trail.fate == "dropped" and _after(trail, ev) else "[dim]·[/]"
            elif ev.decision in (None, "keep"):
                mark = "[green]✓[/]" + (" keep" if ev.decision else "")
            else:
                mark = f"[red]✗ drop: {ev.decision}[/]"
            con.print(f"  {ev.step:<22} {ev.type:<26} {mark}  {sig}", highlight=False)
        if trail.fate == "kept":
            con.print(f"  → [green]kept[/] in {m['version']}")
        else:
            extra = f" (duplicate of {trail.dup_of})" if trail.dup_of else ""
            con.print(f"  → [red]dropped[/] by {trail.dropped_by}: {trail.reason}{extra}")


def _after(trail, ev) -> bool:
    names = [e.step for e in trail.events]
    return trail.dropped_by in names and names.index(ev.step) > names.index(trail.dropped_by)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@app.command()
def rejects(
    dataset: str = typer.Argument(..., help="Output folder or dataset version id."),
    step: str = typer.Option(None, "--step", "-s", help="Only documents dropped by this step."),
    reason: str = typer.Option(None, "--reason", "-r", help="Only documents dropped for this reason."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="How many examples."),
) -> None:
    """Show examples of dropped documents with the step and reason that dropped them."""
    from rich.table import Table

    from heitu.data.ledger import rejects as find_rejects
    from heitu.data.manifest import resolve_dataset

    out_dir, _ = resolve_dataset(dataset)
    df = find_rejects(out_dir, step, reason, limit)
    table = Table(show_lines=True)
    for col in ("step", "reason", "id", "text"):
        table.add_column(col, overflow="fold")
    for row in df.iter_rows(named=True):
        text = row["text"].replace("\n", " ⏎ ")
        reason_s = row["reason"] + (f" (dup of {row['dup_of']})" if row.get("dup_of") else "")
        table.add_row(row["step"], reason_s, row["id"], text[:300] + ("…" if len(text) > 300 else ""))
    _console().print(table)
    if df.height == 0:
        _console().print("no matching rejected documents")


@app.command()
def redact(
    file: str = typer.Argument("-", help="Plain text (one document per line) or jsonl (`text` field); - for stdin."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, text or jsonl."),
    text_field: str = typer.Option("text", "--text-field", help="Field to redact in jsonl input."),
    counts: bool = typer.Option(False, "--counts", help="Print PII counts per type to stderr at the end."),
) -> None:
    """Redact PII (e-mail, phone, Chinese ID, bank card, IP) with typed placeholders and print the result."""
    from heitu.core.errors import UserError
    from heitu.data.steps.pii import redact as redact_text

    if file == "-":
        stream = sys.stdin.buffer
    else:
        p = Path(file)
        if not p.is_file():
            raise UserError(f"{file} does not exist")
        stream = open(p, "rb")
    total: dict[str, int] = {}
    out = sys.stdout
    with stream:
        for lineno, raw in enumerate(stream, 1):
            try:
                line = raw.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError as exc:
                raise UserError(f"{file}: line {lineno} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
            is_json = fmt == "jsonl" or (fmt == "auto" and line.lstrip().startswith("{"))
            if is_json:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{file}: line {lineno} is not valid JSON: {exc.msg} (column {exc.colno})") from exc
                if not isinstance(rec, dict) or not isinstance(rec.get(text_field), str):
                    raise UserError(f"{file}: line {lineno} has no string '{text_field}' field")
                rec[text_field], c = redact_text(rec[text_field])
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                red, c = redact_text(line)
                out.write(red + "\n")
            for k, v in c.items():
                total[k] = total.get(k, 0) + v
    if counts:
        sys.stderr.write(json.dumps(total) + "\n")


@app.command()
def steps() -> None:
    """List the step types a pipeline spec can use."""
    from rich.table import Table

    from heitu.data.steps import STEP_TYPES, load_builtin_steps

    load_builtin_steps()
    table = Table()
    table.add_column("type")
    table.add_column("kind")
    table.add_column("what it does")
    for name, cls in sorted(STEP_TYPES.items()):
        doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip().splitlines()
        table.add_row(name, cls.kind, doc[0] if doc else "")
    _console().print(table)


@app.command()
def report(
    dataset: str = typer.Argument(..., help="Output folder or dataset version id."),
    html: Path = typer.Option(None, "--html", help="Report page to write (default: DATASET/report/report.html)."),
    json_out: Path = typer.Option(None, "--json", help="Scorecard JSON to write (default: DATASET/report/scorecard.json)."),
    reference_lm: Path = typer.Option(None, "--reference-lm", help="Reference LM (`heitu data reference-lm train`) for perplexity."),
    sample: int = typer.Option(2000, "--sample", min=1, help="Kept documents sampled (by id hash) for perplexity and diversity."),
) -> None:
    """Grade a dataset version against the heitu quality standard; write the scorecard and an HTML report."""
    from heitu.core.storage import atomic_write_bytes, atomic_write_json
    from heitu.data.manifest import resolve_dataset
    from heitu.data.quality.report import build_report
    from heitu.data.quality.scorecard import compute_scorecard

    out_dir, m = resolve_dataset(dataset)
    if reference_lm is not None and not reference_lm.is_file():
        from heitu.core.errors import UserError

        raise UserError(f"--reference-lm {reference_lm} does not exist")
    card = compute_scorecard(out_dir, m, reference_lm=reference_lm, sample=sample)
    html = html or out_dir / "report" / "report.html"
    json_out = json_out or out_dir / "report" / "scorecard.json"
    atomic_write_json(json_out, card)
    atomic_write_bytes(html, build_report(out_dir, m, card).encode("utf-8"))
    _print_grades(card)
    _console().print(f"report: {html}\nscorecard: {json_out}")


def _print_grades(card: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{card.get('dataset')} — {card.get('standard')}")
    table.add_column("dimension")
    table.add_column("grade", justify="center")
    for dim, d in card["dimensions"].items():
        table.add_row(dim, d.get("grade") or "–")
    table.add_row("[bold]overall", f"[bold]{card['overall'].get('grade') or '–'}")
    _console().print(table)


@app.command()
def diff(
    a: str = typer.Argument(..., help="Older dataset version (id or folder)."),
    b: str = typer.Argument(..., help="Newer dataset version (id or folder)."),
    reference_lm: Path = typer.Option(None, "--reference-lm", help="Reference LM for the perplexity metric."),
    as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON."),
) -> None:
    """What changed between two dataset versions: metric and grade deltas, documents added and
    removed, and the rules that explain the change."""
    from heitu.data.manifest import resolve_dataset
    from heitu.data.quality.diff import diff_datasets, render_diff

    d = diff_datasets(resolve_dataset(a), resolve_dataset(b), reference_lm=reference_lm)
    if as_json:
        sys.stdout.write(json.dumps(d, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(render_diff(d) + "\n")


from heitu.data.quality.cli import app as quality_model_app  # noqa: E402 (typer commands only, no heavy imports)

app.add_typer(quality_model_app, name="quality-model")

reference_lm_app = typer.Typer(no_args_is_help=True, help="Reference language model for the perplexity metric.")
app.add_typer(reference_lm_app, name="reference-lm")


@reference_lm_app.command("train")
def reference_lm_train(
    input: list[str] = typer.Option(..., "--input", "-i", help="Clean reference text: glob/folder/URL (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", help="Model file to write."),
    order: int = typer.Option(3, "--order", min=1, max=8, help="Character n-gram order."),
) -> None:
    """Train a character n-gram reference LM (interpolated Kneser-Ney) on clean text, locally."""
    from heitu.data.quality.reference_lm import train_reference_lm
    from heitu.data.readers import ReaderOptions, ReadError, expand_inputs, read_documents

    def texts():
        for path, name in expand_inputs(input):
            for item in read_documents(path, name, ReaderOptions()):
                if not isinstance(item, ReadError):
                    yield item["text"]

    train_reference_lm(texts(), output, order=order)
    _console().print(f"reference LM (order {order}) written to {output}")
