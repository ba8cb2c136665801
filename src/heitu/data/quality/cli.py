"""`heitu data quality-model …`: train and evaluate the learned quality model.

Mounted by the data CLI as ``heitu data quality-model``; standalone for testing:
``python -c "from heitu.data.quality.cli import app; app()" train --positive ... --negative ... --output m/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Learned quality model: clean reference text vs raw web text.")


def _metrics_table(title: str, m: dict):
    from rich.table import Table

    t = Table(title=title)
    for col in ("docs (clean/raw)", "precision", "recall", "F1", "accuracy", "AUC"):
        t.add_column(col, justify="right")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    t.add_row(
        f"{m['n']:,} ({m['n_positive']:,}/{m['n_negative']:,})",
        fmt(m["precision"]), fmt(m["recall"]), fmt(m["f1"]), fmt(m["accuracy"]), fmt(m["auc"]),
    )
    return t


@app.command()
def train(
    positive: list[str] = typer.Option(..., "--positive", "-p", help="Clean reference text: glob/folder/URL (repeatable)."),
    negative: list[str] = typer.Option(..., "--negative", "-n", help="Raw web text: glob/folder/URL (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", help="Model folder to write (model.json + weights.npz)."),
    heldout: float = typer.Option(0.1, "--heldout", help="Fraction of documents held out (by a hash of the id)."),
    salt: str = typer.Option("", "--salt", help="Salt of the held-out hash (another salt = another split)."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes of SGD over the training split."),
    alpha: float = typer.Option(1e-5, "--alpha", help="L2 regularisation strength."),
    n_features_log2: int = typer.Option(20, "--features-log2", min=10, max=26, help="Hash space: 2**N features."),
    max_chars: int = typer.Option(10_000, "--max-chars", min=1, help="Characters read per document."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --output."),
) -> None:
    """Train the classifier (hashed char n-grams for CJK + word 1-2-grams) and write the model folder."""
    from rich.console import Console

    from heitu.data.quality.model import train_model

    model = train_model(
        positive, negative, output, heldout=heldout, salt=salt, epochs=epochs, alpha=alpha,
        n_features_log2=n_features_log2, max_chars=max_chars, seed=seed, overwrite=overwrite,
    )
    con = Console()
    c = model.meta["counts"]
    con.print(f"trained on {c['train']['clean']:,} clean / {c['train']['raw']:,} raw documents; "
              f"held out {c['heldout']['clean']:,} / {c['heldout']['raw']:,}")
    if model.meta.get("metrics_heldout"):
        con.print(_metrics_table("held-out split", model.meta["metrics_heldout"]))
    con.print(f"model written to {output}")


@app.command("eval")
def eval_(
    model: Path = typer.Argument(..., help="Model folder written by `train`."),
    positive: list[str] = typer.Option(..., "--positive", "-p", help="Clean text (the training inputs for --split heldout)."),
    negative: list[str] = typer.Option(..., "--negative", "-n", help="Raw text (the training inputs for --split heldout)."),
    split: str = typer.Option("heldout", "--split", help="heldout: the documents train held out; all: every document (external test set)."),
    threshold: float = typer.Option(0.5, "--threshold", help="P(clean) at or above which a document counts as clean."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Precision/recall/F1/AUC of a model on the held-out split of its training inputs (or on any set)."""
    from rich.console import Console

    from heitu.core.errors import UserError
    from heitu.data.quality.model import evaluate

    if split not in ("heldout", "all", "train"):
        raise UserError(f"--split must be heldout, all or train; got {split!r}")
    res = evaluate(model, positive, negative, split=split, threshold=threshold, show_progress=not as_json)
    if as_json:
        typer.echo(json.dumps(res))
        return
    con = Console()
    con.print(_metrics_table(f"{model} on the {split} split (threshold {threshold})", res))
    if split == "heldout" and res["inputs_not_in_training"]:
        con.print(f"[yellow]note:[/] not training inputs (their held-out ids were never seen, but neither were "
                  f"the others): {', '.join(res['inputs_not_in_training'])}")
