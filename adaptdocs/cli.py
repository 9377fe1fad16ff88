"""The `adaptdocs` command line: parse options, call one library function, render the result.

Pipeline logic lives in the library modules; Rich output lives only here.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .config import AugmentConfig, CompareConfig, IngestConfig, ModelConfig, TrainConfig
from .environment import use_offline_environment
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
        help="Model: a Hugging Face id, a model directory or a .gguf file (default: the embedded SmolLM2-135M-Instruct), "
        "or openai:http://HOST:PORT/v1/MODEL for an OpenAI-compatible server.",
    ),
]
TeacherOpt = Annotated[
    Optional[str],
    typer.Option(
        "--teacher",
        help="The model that writes the augmented examples, e.g. openai:http://127.0.0.1:8000/v1/MODEL "
        "(default: --model). The server's API key is read from ADAPTDOCS_OPENAI_API_KEY or OPENAI_API_KEY.",
    ),
]
ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", help="Requests in flight to a server model (openai:...).")
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


@contextmanager
def _progress():
    """A Rich reporter for one command, its bar stopped however the command ends."""
    reporter = RichReporter(console)
    try:
        yield reporter
    finally:
        reporter.finish()


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
    max_bytes: Annotated[int, typer.Option(help="Refuse files larger than this many bytes.")] = IngestConfig.max_bytes,
    workers: Annotated[Optional[int], typer.Option(help="Parser processes (default: one per core).")] = None,
    prune: Annotated[bool, typer.Option(help="Remove documents whose files disappeared.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any file fails.")] = False,
    as_json: JsonOpt = False,
):
    """Parse documents (md, html, txt, docx, pdf) into the workspace, with provenance.

    Unchanged files are skipped; changed files replace their old rows.

    Example: adaptdocs ingest ./docs -w ./.adaptdocs
    """
    from .ingest import ingest_paths

    ws = _workspace(workspace)
    with _progress() as reporter:
        summary = ingest_paths(
            ws, paths, IngestConfig(max_bytes=max_bytes, workers=workers, prune=prune, strict=strict), reporter
        )
    data = summary.as_dict()
    if as_json:
        _print_json(data)
    else:
        out.print(
            _table(
                "Ingest",
                [(k, data[k]) for k in ("ingested", "unchanged", "skipped", "failed", "removed", "disappeared",
                                        "elements", "sentences")],
                ("", "count"),
            )
        )
        for problem in data["problems"]:
            out.print(f"[yellow]{problem['kind']}[/] " + escape(f"{problem['path']}: {problem['error']} ({problem['hint']})"),
                      highlight=False)
        for path in data["files"]["disappeared"]:
            out.print(f"[yellow]disappeared[/] {escape(path)} (rerun with --prune to remove it)", highlight=False)
    raise typer.Exit(summary.exit_code(strict))


@app.command()
def status(
    workspace: WorkspaceOpt = DEFAULT_WS,
    model: ModelOpt = None,
    quantize: QuantizeOpt = "auto",
    adapter: Annotated[Optional[str], typer.Option(help="Show one adapter in full: what it was trained on and its documents.")] = None,
    as_json: JsonOpt = False,
):
    """Show what the workspace holds, what is stale, and which input changed.

    Adapters are judged against the default training settings with --model, as `compare` trains them.

    Example: adaptdocs status --adapter both --json
    """
    from .config import ModelConfig
    from .status import workspace_status

    data = workspace_status(_workspace(workspace), TrainConfig(model=ModelConfig(model, quantize)))
    if adapter is not None:
        found = [a for a in data["adapters"] if a["data"] == adapter]
        if not found:
            raise AdaptdocsError(f"no adapter {adapter!r} in {data['workspace']}", f"run adaptdocs train --data {adapter}")
        data = found[0]
        if as_json:
            _print_json(data)
            return
        rows = [("state", "stale: " + "; ".join(data["changed"]) if data["stale"] else "current"),
                ("steps", data["steps"]), ("final loss", data["final_loss"]),
                *[(f"rows: {k}", v) for k, v in data["composition"].items()],
                ("documents", "\n".join(data["documents"]))]
        out.print(_table(f"Adapter {adapter}", rows, ("", "")))
        return
    if as_json:
        _print_json(data)
        return
    out.print(f"Workspace [bold]{data['workspace']}[/]")
    out.print(_table("Corpus", [(k, v) for k, v in data["corpus"].items()], ("", "count")))
    for f in data["failures"]:
        out.print("[yellow]failed[/] " + escape(f"{f['path']}: {f['error']} ({f['hint']})"), highlight=False)
    for change in data["changed_documents"]:
        out.print(f"[yellow]changed[/] {escape(change)} (rerun adaptdocs ingest)", highlight=False)
    if data["augmented"]:
        rows = [(s, v["examples"], v["items"], v["stale_items"], "; ".join(f"{r} ({n})" for r, n in v["stale_because"].items()))
                for s, v in data["augmented"].items()]
        out.print(_table("Augmented", rows, ("strategy", "examples", "items done", "stale items", "why stale")))
    if data["adapters"]:
        rows = [(a["data"], a["steps"], a["final_loss"], "stale" if a["stale"] else "current", "; ".join(a["changed"]))
                for a in data["adapters"]]
        out.print(_table("Adapters", rows, ("training set", "steps", "final loss", "state", "what changed")))
    if data["reports"]:
        latest = data["reports"][-1]
        state = "stale: " + "; ".join(latest["changed"]) if latest["stale"] else "current"
        out.print(f"Reports: {len(data['reports'])}, latest {latest['name']} ({escape(state)})", highlight=False)


@app.command()
def models(
    model: ModelOpt = None,
    quantize: QuantizeOpt = "auto",
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = DEFAULT_WS,  # noqa: ARG001 -- every command takes -w (design.md); this one reads none
):
    """Resolve and load a model; show where it came from, its size, precision and why.

    Example: adaptdocs models --model ./my-model --quantize nf4
    """
    from .models.loading import load_pretrained

    reporter = RichReporter(console)
    _, _, info = load_pretrained(model, quantize=quantize, device=device, reporter=reporter)
    data = info.as_dict()
    if as_json:
        _print_json(data)
        return
    rows = [
        ("name", info.name),
        ("source", info.source),
        ("parameters", f"{info.parameters / 1e6:.1f} M"),
        ("precision", info.dtype),
        ("device", info.device),
        ("context length", info.context_length),
        ("chat template", "yes" if info.has_chat_template else "no"),
        ("why this precision", info.reason),
    ]
    out.print(_table("Model", rows, ("", "")))


@app.command()
def augment(
    workspace: WorkspaceOpt = DEFAULT_WS,
    strategy: Annotated[str, typer.Option(help="local | global | both.")] = "both",
    model: ModelOpt = None,
    teacher: TeacherOpt = None,
    quantize: QuantizeOpt = "auto",
    device: DeviceOpt = "auto",
    concurrency: ConcurrencyOpt = ModelConfig.concurrency,
    limit: Annotated[Optional[int], typer.Option(help="Do at most this many items per strategy.")] = None,
    samples: Annotated[int, typer.Option(help="Samples per prompt (above 1 needs --temperature).")] = 1,
    temperature: Annotated[float, typer.Option(help="0 is greedy.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Prompts generated together.")] = AugmentConfig.batch_size,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the prompts and token counts; change nothing.")] = False,
    verify: Annotated[bool, typer.Option(help="Keep an example only if the model, shown its source sentences, prefers it "
                                         "to the same text with its names moved (verify.py).")] = True,
    verify_margin: Annotated[float, typer.Option(help="Nats by which an example must beat each corruption.")] = AugmentConfig.verify_margin,
    resample: Annotated[int, typer.Option(help="Sampled question-answer pairs for a sentence naming something of which "
                                          "greedy decoding kept nothing (0: off).")] = AugmentConfig.resample,
    as_json: JsonOpt = False,
):
    """Have the model write rephrasings, reversals, lists and cross-document inferences of the corpus.

    Finished items are kept: rerunning continues where a run stopped. Exports
    <workspace>/exports/augmented-<strategy>.jsonl.

    A kill loses at most one batch (--batch-size prompts; to a server, --concurrency at a time).

    Example: adaptdocs augment --strategy both -w ./.adaptdocs --teacher openai:http://127.0.0.1:8000/v1/MODEL
    """
    from .augment import augment as run_augment

    config = AugmentConfig(
        strategy=strategy, model=ModelConfig(teacher or model, quantize, device, concurrency), limit=limit, samples=samples,
        temperature=temperature, seed=seed, batch_size=batch_size, dry_run=dry_run, verify=verify,
        verify_margin=verify_margin, resample=resample,
    )
    ws = _workspace(workspace)
    with _progress() as reporter:
        summary = run_augment(ws, config, reporter)
    data = summary.as_dict()
    if as_json:
        _print_json(data)
        return
    if dry_run:
        shown_prefix = None
        for p in summary.prompts:
            if p.prefix != shown_prefix:
                out.rule(f"shared prefix ({p.prefix_tokens} tokens, encoded once)")
                out.print(p.prefix, markup=False, highlight=False)
                shown_prefix = p.prefix
            out.rule(f"{p.strategy} · {p.template} · {', '.join(p.source_ids)} · {p.prompt_tokens} tokens")
            out.print(p.prompt, markup=False, highlight=False)
        total = sum(p.prompt_tokens for p in summary.prompts) + sum({p.prefix: p.prefix_tokens for p in summary.prompts}.values())
        out.print(f"Dry run: {len(summary.prompts)} prompts, {total} prompt tokens; nothing was changed.")
        return
    for name, s in data["strategies"].items():
        items = s["items"]
        out.print(
            f"[bold]{name}[/]: {items['done']} items done, {items['skipped']} already done, "
            f"{items['stale_removed']} stale removed, {items['superseded_removed']} superseded removed"
            + (f", {items['left_by_limit']} left by --limit" if items["left_by_limit"] else "")
            + (f"; {s['windows']} corpus windows" if s["windows"] > 1 else "")
        )
        out.print(_table(f"{name}: kept per template", sorted(s["kept"].items()), ("template", "kept")))
        if s["dropped"]:
            rows = [(*key.rsplit(":", 1), n) for key, n in sorted(s["dropped"].items())]
            out.print(_table(f"{name}: dropped per template and reason", rows, ("template", "reason", "dropped")))
        tokens = s["tokens"]
        out.print(
            _table(
                f"{name}: cost",
                [("prompt tokens", tokens["prompt"]), ("cached tokens", tokens["cached"]),
                 ("generated tokens", tokens["generated"]), ("seconds", s["seconds"]),
                 ("examples stored", s["examples_total"])],
                ("", "value"),
            )
        )
        if s["export"]:
            out.print(f"Exported {s['export']}", highlight=False)
    if summary.coverage:
        out.print(summary.coverage.describe(), highlight=False)


@app.command()
def compare(
    questions: Annotated[
        Optional[Path], typer.Option("--questions", "-q", help="Question set (JSONL, see design.md); without it, the exam built from the documents.")
    ] = None,
    exam_size: Annotated[Optional[int], typer.Option(help="Questions in the generated exam (default: all it can make, at most 200).")] = None,
    exam_no_model: Annotated[bool, typer.Option("--exam-no-model", help="Generated exam: only the kinds built by rule (fast; no model-written questions).")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
    conditions: Annotated[
        str, typer.Option(help=f"Comma list of {', '.join(CompareConfig.conditions)}.")
    ] = ",".join(CompareConfig.conditions),
    model: ModelOpt = None,
    teacher: TeacherOpt = None,
    quantize: QuantizeOpt = "auto",
    device: DeviceOpt = "auto",
    concurrency: ConcurrencyOpt = ModelConfig.concurrency,
    no_train: Annotated[bool, typer.Option("--no-train", help="Use existing adapters only; skip conditions without one.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and of augment/train runs started here.")] = 0,
    strict: Annotated[bool, typer.Option(help="Exit 1 at the first malformed question line.")] = False,
    batch_size: Annotated[int, typer.Option(help="Sequences scored together.")] = CompareConfig.batch_size,
    as_json: JsonOpt = False,
):
    """Evaluate base, icl and fine-tuned conditions per question kind, running missing augment/train first.

    Without --questions, the exam built from the documents (adaptdocs questions show prints it).
    --teacher writes the augmented examples (a larger model on a server, say); --model is trained and evaluated.

    Example: adaptdocs compare --questions sample_corpus/questions.jsonl --conditions base,icl,ft-plain
    """
    from .compare import compare as run_compare
    from .report import format_cell, kinds_of

    model_config = ModelConfig(model=model, quantize=quantize, device=device, concurrency=concurrency)
    teacher_config = ModelConfig(teacher, quantize, device, concurrency) if teacher else None
    config = CompareConfig(
        questions=str(questions) if questions else "", exam_size=exam_size, exam_by_model=not exam_no_model,
        conditions=conditions, model=model_config, no_train=no_train, seed=seed, strict=strict, batch_size=batch_size,
        teacher=teacher_config, augment=AugmentConfig(model=teacher_config or model_config, seed=seed),
    )
    ws = _workspace(workspace)
    with _progress() as reporter:
        report = run_compare(ws, config, reporter)
    data = report.data
    if as_json:
        _print_json({**data, "report_path": str(report.path)})
        return
    kinds = kinds_of(data)
    rows = [
        (name, *[f"{format_cell(c['by_kind'].get(k))} n={c['by_kind'][k]['n']}" if k in c["by_kind"] else "–" for k in kinds],
         f"{format_cell(c)} n={c['n']}")
        for name, c in data["conditions"].items()
    ]
    if data.get("chance"):
        rows.append(("chance", *[f"{data['chance']['by_kind'].get(k, 0):.2f}" for k in kinds], f"{data['chance']['overall']:.2f}"))
    out.print(_table(f"Accuracy [95% CI] — {data['model']}", rows, ("condition", *kinds, "overall")))
    baselines = [b for b in ("icl", "rag") if b in data["conditions"]]
    cost_rows = []
    for name, c in data["conditions"].items():
        k = c["cost"]
        even = [data["break_even_queries"].get(f"{name}_vs_{b}", "") for b in baselines]
        cost_rows.append((
            name, f"{k['prompt_tokens_per_query']:,.0f}", f"{k['seconds_per_query']:.3f}", f"{k['augment_tokens']:,}",
            f"{k['train_tokens']:,}", f"{k['augment_seconds'] + k['train_seconds']:.0f}",
            *["never" if e is None else e for e in even],
        ))
    out.print(_table("Cost", cost_rows, ("condition", "prompt tok/query", "s/query", "augment tok", "train tok",
                                          "one-time s", *[f"break-even queries vs {b}" for b in baselines])))
    for sentence in data.get("verdict", []):
        out.print(f"[bold]{escape(sentence)}[/]", highlight=False)
    for note in data["notes"][:-1]:
        out.print(f"[dim]{escape(note)}[/]", highlight=False)
    for warning in data["warnings"]:
        out.print(f"[yellow]warning[/] {escape(warning)}", highlight=False)
    out.print(f"Report: [bold]{report.path}[/] (report.md, report.html, report.json)")


TRAIN_DEFAULTS = TrainConfig()  # the defaults live in config.py, with their reasons


@app.command()
def train(
    data: Annotated[str, typer.Option(help="Training set: plain | local | global | both.")] = "plain",
    workspace: WorkspaceOpt = DEFAULT_WS,
    model: ModelOpt = None,
    quantize: QuantizeOpt = "auto",
    device: DeviceOpt = "auto",
    epochs: Annotated[int, typer.Option(help="Passes over the training set.")] = TRAIN_DEFAULTS.epochs,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many optimizer steps.")] = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = TRAIN_DEFAULTS.lr,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = TRAIN_DEFAULTS.rank,
    alpha: Annotated[float, typer.Option(help="LoRA alpha (the update is scaled by alpha / rank).")] = TRAIN_DEFAULTS.alpha,
    dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = TRAIN_DEFAULTS.dropout,
    target_modules: Annotated[str, typer.Option(help="all-linear, or a comma list such as q_proj,v_proj.")] = TRAIN_DEFAULTS.target_modules,
    batch_size: Annotated[int, typer.Option(help="Packed rows per micro-batch.")] = TRAIN_DEFAULTS.batch_size,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimizer step.")] = TRAIN_DEFAULTS.grad_accum,
    seq_len: Annotated[int, typer.Option(help="Tokens per packed row.")] = TRAIN_DEFAULTS.seq_len,
    seed: Annotated[int, typer.Option(help="Seed of the LoRA initialisation, data order and dropout.")] = TRAIN_DEFAULTS.seed,
    split: Annotated[str, typer.Option(help="independent | cumulative | document (how the corpus becomes examples).")] = TRAIN_DEFAULTS.split,
    checkpoint_every: Annotated[int, typer.Option(help="Optimizer steps between checkpoints.")] = TRAIN_DEFAULTS.checkpoint_every,
    compile: Annotated[str, typer.Option(help="torch.compile the decoder layers: auto | on | off (auto: on the CPU, for runs of 50+ steps).")] = TRAIN_DEFAULTS.compile,
    as_json: JsonOpt = False,
):
    """Fine-tune a LoRA adapter (QLoRA with --quantize nf4) on the corpus, plus augmented examples.

    Writes <workspace>/adapters/<data>/: a PEFT adapter with adaptdocs.json and loss.png.

    A current adapter is not trained again; after a kill or Ctrl-C, rerunning resumes.

    Example: adaptdocs train --data both -w ./.adaptdocs
    """
    from .config import ModelConfig
    from .train import train as run_train

    config = TrainConfig(
        data=data, model=ModelConfig(model, quantize, device), epochs=epochs, max_steps=max_steps, lr=lr, rank=rank,
        alpha=alpha, dropout=dropout, target_modules=target_modules, batch_size=batch_size, grad_accum=grad_accum,
        seq_len=seq_len, seed=seed, split=split, checkpoint_every=checkpoint_every, compile=compile,
    )
    ws = _workspace(workspace)
    with _progress() as reporter:
        result = run_train(ws, config, reporter)
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under `accelerate launch` the main process alone reports
        return
    summary = result.as_dict()
    if as_json:
        _print_json({k: v for k, v in summary.items() if k != "loss_curve"})
        return
    rows = [
        ("state", "already current, not trained again" if result.skipped else "trained"),
        ("steps", result.steps),
        ("final loss", result.final_loss),
        ("tokens", f"{result.train_tokens:,}"),
        ("seconds", f"{result.train_seconds:.1f}"),
        ("tokens/s", f"{result.tokens_per_second:.0f}"),
        ("adapter", result.adapter_dir),
    ]
    if result.resumed_from_step:
        rows.insert(1, ("resumed from step", result.resumed_from_step))
    out.print(_table(f"Train {data}", rows, ("", "")))


@app.command()
def export(
    target: Annotated[Path, typer.Argument(metavar="OUT", help="Where to write: a directory (merged, ollama) or a .gguf file (gguf).")],
    adapter: Annotated[str, typer.Option("--adapter", help="The adapter to export, by training set: plain | local | global | both.")],
    fmt: Annotated[str, typer.Option("--format", help="merged (Transformers directory) | gguf | ollama (model.gguf + Modelfile).")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    gguf_type: Annotated[str, typer.Option(help="GGUF weights for gguf and ollama: f32 (answers as the adapter does) | f16 | bf16 | q8_0.")] = "f32",
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists (a directory only if it is an earlier export).")] = False,
    as_json: JsonOpt = False,
):
    """Export an adapter merged into its base model: a Transformers directory, a GGUF file, or an Ollama model.

    Example: adaptdocs export --adapter both --format ollama ./my-model && ollama create my-model -f ./my-model/Modelfile
    """
    from .export import export as run_export

    ws = _workspace(workspace)
    with _progress() as reporter:
        result = run_export(ws, adapter, fmt, target, force=force, gguf_type=gguf_type, reporter=reporter)
    if as_json:
        _print_json(result.as_dict())
        return
    rows = [(name, f"{size / 1e6:,.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB") for name, size in result.files.items()]
    out.print(_table(f"Export {adapter} as {fmt} ({result.seconds:.0f} s)", rows, ("file", "size")))


@app.command()
def ask(
    question: Annotated[
        Optional[str], typer.Argument(help="The question; without it, questions are read from stdin, one a line.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    use: Annotated[
        Optional[str],
        typer.Option(help="base | icl | rag | ft-DATA | rag+ft-DATA, DATA one of plain, local, global, both "
                          "(default: the best usable condition of the latest report, else ft-both)."),
    ] = None,
    model: ModelOpt = None,
    quantize: QuantizeOpt = "auto",
    device: DeviceOpt = "auto",
    k: Annotated[int, typer.Option("--k", "-k", help="rag: passages retrieved per question.")] = 5,
    budget_tokens: Annotated[int, typer.Option(help="rag: the most tokens of passages.")] = 512,
    max_new_tokens: Annotated[int, typer.Option(help="The longest answer, in tokens.")] = 64,
    cloze: Annotated[bool, typer.Option("--cloze", help="The text is a sentence start to complete, not a question.")] = False,
    examples: Annotated[
        bool, typer.Option(help="Put two general-knowledge worked examples before a question (templates/ask_examples.toml).")
    ] = True,
    as_json: JsonOpt = False,
):
    """Answer a question from the documents (greedy, streamed), showing the passages it was given.

    Without QUESTION, answers stdin line by line, the model loaded once (with --json, one JSON object a line).

    Example: adaptdocs ask "Which team owns the Plosk tool?" --use rag
    """
    from .ask import AskConfig, AskSession
    from .config import ModelConfig

    config = AskConfig(
        use=use, model=ModelConfig(model, quantize, device), k=k, budget_tokens=budget_tokens,
        max_new_tokens=max_new_tokens, style="cloze" if cloze else "question", examples=examples,
    )
    session = AskSession(_workspace(workspace), config, reporter=RichReporter(console))
    if not as_json:
        console.print(f"[dim]Condition {session.condition}: {escape(session.why)}[/]", highlight=False)
    if question is not None:
        _answer(session, question, as_json, lines=False)
        return
    failed = False
    interactive = _stdin_is_terminal()
    while True:
        try:
            line = console.input("[bold]?[/] ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C at the prompt ends the session
            console.print()
            break
        if not line and not interactive:  # end of input (a blank line is "\n")
            break
        if not line.strip():
            continue
        try:
            _answer(session, line, as_json, lines=True)
        except AdaptdocsError as e:
            failed = True
            if as_json:
                print(json.dumps({"question": line.strip(), "error": str(e)}), flush=True)
            else:
                console.print(f"[red]Error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
    raise typer.Exit(1 if failed else 0)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _answer(session, question: str, as_json: bool, lines: bool) -> None:
    """Answer one question: the answer streamed to stdout, its passages below it; or its JSON."""
    def write(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    answer = session.ask(question, on_text=None if as_json else write)
    if as_json:
        if lines:
            print(json.dumps(answer.as_dict()), flush=True)
        else:
            _print_json(answer.as_dict())
        return
    write("\n")
    if answer.context == "whole_corpus":
        files = sorted({p.file for p in answer.passages})
        out.print(f"[dim]icl: the whole corpus was in the prompt: {len(answer.passages)} sentences from "
                  f"{len(files)} files ({escape(', '.join(files))}); --json lists them[/]", highlight=False)
    elif answer.passages:
        out.print(f"[dim]Passages given ({answer.condition}, best first):[/]", highlight=False)
        for p in answer.passages:
            out.print(f"[dim]  {escape(p.file)} · {escape(p.sentence_id)} · {p.score:.2f}[/]  " + escape(p.text),
                      highlight=False, soft_wrap=True)
    elif answer.context == "passages":
        out.print("[dim]No passage shares a word with the question: none was given.[/]", highlight=False)
    console.print(f"[dim]{answer.seconds:.2f} s · {answer.prompt_tokens} prompt tokens · "
                  f"{answer.generated_tokens} generated[/]", highlight=False)


questions_app = typer.Typer(
    help="Build and review the exam: multiple-choice questions generated from the corpus, kept out of training.",
    no_args_is_help=True,
)
app.add_typer(questions_app, name="questions")


@questions_app.command("build")
def questions_build(
    workspace: WorkspaceOpt = DEFAULT_WS,
    exam_size: Annotated[Optional[int], typer.Option(help="Questions in the exam (default: all it can make, at most 200).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the distractors, the selection and the answer positions.")] = 0,
    teacher: Annotated[Optional[str], typer.Option(help="Model that writes reversal/rephrase/multihop statements (default: the embedded model).")] = None,
    quantize: QuantizeOpt = "auto",
    device: DeviceOpt = "auto",
    no_model: Annotated[bool, typer.Option("--no-model", help="Only the questions built by rule; load no model.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the corpus and settings are unchanged.")] = False,
    as_json: JsonOpt = False,
):
    """Build <workspace>/exam/questions.jsonl from the corpus (rebuilt only when the corpus changes).

    Example: adaptdocs questions build --exam-size 120 -w ./.adaptdocs
    """
    from .config import ModelConfig
    from .exam import ExamConfig, build_exam

    config = ExamConfig(size=exam_size, seed=seed, teacher=ModelConfig(teacher, quantize, device),
                        model_written=not no_model, force=force)
    ws = _workspace(workspace)
    with _progress() as reporter:
        result = build_exam(ws, config, reporter=reporter)
    data = result.as_dict()
    if as_json:
        _print_json(data)
        return
    state = "built" if result.rebuilt else "current for this corpus, reused"
    rows = [(kind, n, ", ".join(f"{c} {how}" for how, c in result.made_by[kind].items())) for kind, n in result.by_kind.items()]
    rows.append(("total", result.n, ""))
    out.print(_table(f"Exam ({state})", rows, ("kind", "questions", "made by")))
    if result.rebuilt:
        yield_rows = [(name, y["candidates"], y["made"], ", ".join(f"{r} {c}" for r, c in y["dropped"].items()))
                      for name, y in result.yields.items()]
        out.print(_table("Yield before the size limit", yield_rows, ("kind by", "candidates", "made", "dropped")))
    out.print(escape(result.summary()), highlight=False)


@questions_app.command("show")
def questions_show(
    workspace: WorkspaceOpt = DEFAULT_WS,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="A question file (default: the workspace's exam).")] = None,
    kind: Annotated[Optional[str], typer.Option(help="Only questions of this kind.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Show at most this many questions.")] = None,
    as_json: JsonOpt = False,
):
    """Print the exam's questions for review: choices (the right one marked), sources, evidence.

    Example: adaptdocs questions show --kind reversal --limit 20
    """
    from .exam import review

    rows = review(_workspace(workspace), file, kind=kind, limit=limit)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"Questions ({len(rows)})", title_justify="left", show_lines=True)
    for header in ("id", "kind", "made by", "question", "choices", "sources / evidence"):
        table.add_column(header)
    for r in rows:
        choices = "\n".join(("[bold green]✓ " if i == r["answer"] else "  ") + escape(c) + ("[/]" if i == r["answer"] else "")
                            for i, c in enumerate(r["choices"]))
        where = escape(", ".join(r["sources"])) + ("\n[dim]" + escape(" | ".join(r["evidence"])) + "[/]" if r["evidence"] else "")
        table.add_row(escape(r["id"]), escape(r["kind"]), escape(r["made_by"] or "-"),
                      escape(r["question"]) + (" [dim](cloze)[/]" if r["style"] == "cloze" else ""), choices, where)
    out.print(table)


class _DropHubKernelNotice(logging.Filter):
    """bitsandbytes logs on import that it could not fetch an optional CPU kernel from the hub;
    adaptdocs runs offline, so the notice is noise. Its other warnings still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kernels-community" not in record.getMessage()


def _quiet_third_party_noise() -> None:
    # Logger filters see only records of their own logger, so the filter goes on the one that logs it.
    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_DropHubKernelNotice())
    # peft reads a model attribute that transformers has deprecated: nothing for the user to change.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def main() -> None:
    """Entry point: library errors become one line on stderr (ADAPTDOCS_RAISE_ERRORS=1 re-raises)."""
    use_offline_environment()
    _quiet_third_party_noise()
    try:
        app()
    except AdaptdocsError as e:
        if os.environ.get("ADAPTDOCS_RAISE_ERRORS"):
            raise
        console.print(f"[red]Error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except SystemExit as e:
        # Typer turns Ctrl-C (KeyboardInterrupt) into exit status 130 before it gets here.
        if e.code == 130:
            console.print("[yellow]Interrupted.[/] Finished work is saved; rerun the same command to continue.")
        raise
