"""The `heitu` command. Subcommand groups: `data` (now); `train`, `serve`, `app` follow.

Heavy modules are imported inside commands so `heitu --help` answers at once. A user mistake
(`UserError`) prints one paragraph and exits 1; `--debug` shows the traceback.
"""

from __future__ import annotations

import sys

import typer

from heitu import __version__
from heitu.data.cli import app as data_app

app = typer.Typer(
    help="heitu (黑土): raw text to a served, secured, traceable large model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data", help="The data engine: run pipelines, inspect datasets and their lineage.")

_state = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    _state["debug"] = debug


@app.command()
def demo(
    output: str = typer.Option(None, "--output", "-o", help="Where to write the demo dataset (default: a new folder under HEITU_HOME/demo)."),
    workers: int = typer.Option(2, "--workers", "-w", help="Worker processes."),
) -> None:
    """Run the Chinese web recipe on the bundled sample data and show the dataset and its explanation."""
    from heitu.demo import run_demo

    run_demo(output, workers)


def main() -> None:
    from heitu.core.errors import UserError
    from heitu.core.progress import console

    try:
        app(standalone_mode=False)
    except UserError as exc:
        if _state["debug"]:
            raise
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; finished shards are kept (run again with --resume)")
        sys.exit(130)
    except Exception as exc:  # click's own usage errors come through here in standalone_mode=False
        usage, exits, aborts = _click_exceptions()
        if isinstance(exc, usage):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, exits):
            sys.exit(exc.exit_code)
        if isinstance(exc, aborts):
            sys.exit(1)
        raise


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(usage errors, exits, aborts) of click, of typer, and of the click copy newer typer
    releases carry inside themselves (typer._click, whose usage errors typer then raises)."""
    import importlib

    found: tuple[list[type], list[type], list[type]] = ([], [], [])
    for name in ("click.exceptions", "typer._click.exceptions", "typer"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for bucket, attr in zip(found, ("ClickException", "Exit", "Abort")):
            cls = getattr(mod, attr, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                bucket.append(cls)
    return tuple(found[0]), tuple(found[1]), tuple(found[2])


if __name__ == "__main__":  # pragma: no cover
    main()
