"""The `adaptdocs` command line: parse options, call one library function, render the result.

Pipeline logic lives in the library modules; Rich output lives only here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .errors import AdaptdocsError

app = typer.Typer(
    help="Teach a local language model your documents, and measure how well it learned them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

WorkspaceOpt = Annotated[
    Path,
    typer.Option("--workspace", "-w", envvar="ADAPTDOCS_WORKSPACE", help="Workspace directory.", show_default=True),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        "-m",
        envvar="ADAPTDOCS_MODEL",
        help="Model: a Hugging Face id, a model directory or a .gguf file [default: embedded SmolLM2-135M-Instruct].",
    ),
]
QuantizeOpt = Annotated[
    str, typer.Option("--quantize", help="auto | nf4 | int8 | bf16 | fp32 (auto: bf16 where the hardware has it).")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]

DEFAULT_WS = Path(".adaptdocs")


class RichReporter:
    """A Rich progress bar with ETA for library stages (see progress.Reporter)."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None

    def start(self, label: str, total: int | None) -> None:
        self.finish()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(label, total=total, info="")

    def advance(self, n: int = 1, info: str = "") -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=n, info=info)

    def log(self, message: str) -> None:
        (self.progress.console if self.progress else self.console).print(message, highlight=False)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _print_json(data) -> None:
    out.print_json(json.dumps(data, default=str))


def _table(title: str, rows: list[tuple], headers: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for h in headers:
        table.add_column(h)
    for r in rows:
        table.add_row(*[str(c) for c in r])
    return table


def _workspace(path: Path):
    from .workspace import Workspace

    return Workspace(path)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (searched recursively).")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    max_bytes: Annotated[int, typer.Option(help="Refuse files larger than this many bytes.")] = 50 * 1024 * 1024,
    workers: Annotated[Optional[int], typer.Option(help="Parser processes [default: one per core].")] = None,
    prune: Annotated[bool, typer.Option(help="Remove documents whose files disappeared.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any file fails.")] = False,
    as_json: JsonOpt = False,
):
    """Parse documents (md, html, txt, docx, pdf) into the workspace, with provenance.

    Unchanged files are skipped; changed files replace their old rows.

    Example: adaptdocs ingest ./docs -w ./.adaptdocs
    """
    from .config import IngestConfig
    from .ingest import ingest_paths

    ws = _workspace(workspace)
    reporter = RichReporter(console)
    try:
        summary = ingest_paths(
            ws, paths, IngestConfig(max_bytes=max_bytes, workers=workers, prune=prune, strict=strict), reporter
        )
    finally:
        reporter.finish()
    data = summary.as_dict()
    if as_json:
        _print_json(data)
    else:
        out.print(
            _table(
                "Ingest",
                [(k, data[k]) for k in ("ingested", "unchanged", "skipped", "failed", "removed", "elements", "sentences")],
                ("", "count"),
            )
        )
        for problem in data["problems"]:
            out.print(f"[yellow]{problem['path']}[/]: {problem['error']} ({problem['hint']})", highlight=False)
    raise typer.Exit(summary.exit_code(strict))


@app.command()
def status(workspace: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False):
    """Show what the workspace holds and what is stale.

    Example: adaptdocs status -w ./.adaptdocs
    """
    from .status import workspace_status

    data = workspace_status(_workspace(workspace))
    if as_json:
        _print_json(data)
        return
    out.print(f"Workspace [bold]{data['workspace']}[/]")
    out.print(_table("Corpus", [(k, v) for k, v in data["corpus"].items()], ("", "count")))
    for f in data["failures"]:
        out.print(f"[yellow]failed[/] {f['path']}: {f['error']} ({f['hint']})", highlight=False)
    if data["augmented"]:
        rows = [(s, v["examples"], v["items"], v["stale_items"]) for s, v in data["augmented"].items()]
        out.print(_table("Augmented", rows, ("strategy", "examples", "items done", "stale items")))
    if data["adapters"]:
        rows = [(a["data"], a["steps"], a["final_loss"], "stale" if a["stale"] else "current") for a in data["adapters"]]
        out.print(_table("Adapters", rows, ("training set", "steps", "final loss", "state")))
    if data["reports"]:
        out.print(f"Reports: {len(data['reports'])}, latest {data['reports'][-1]}")


def main() -> None:
    """Entry point: library errors become one line on stderr (ADAPTDOCS_RAISE_ERRORS=1 re-raises)."""
    try:
        app()
    except AdaptdocsError as e:
        if os.environ.get("ADAPTDOCS_RAISE_ERRORS"):
            raise
        console.print(f"[red]Error:[/] {e}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/] Finished work is saved; rerun the same command to continue.")
        sys.exit(130)
