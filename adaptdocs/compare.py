"""`adaptdocs compare`: bring every requested condition up to date, evaluate them all on one
question set with one prompt and one scoring, and write the report.

What is missing or stale runs first: augmentation for the strategies a fine-tuned condition
needs (augment is resumable and skips finished items), then training where an adapter is
missing or was trained on another training set than the current one.
"""

from __future__ import annotations

import gc
import json
import re
from dataclasses import replace
from pathlib import Path

from .config import CompareConfig, to_dict
from .errors import AdaptdocsError
from .progress import NullReporter, Reporter
from .report import Report, build_report, write_report
from .workspace import Workspace

# Training set (adapters/<data>) → the augmentation strategies it is built from.
STRATEGIES_OF = {"plain": (), "local": ("local",), "global": ("global",), "both": ("local", "global")}
# Shorter questions ("Who?") would match training text by accident.
_MIN_LEAK_CHARS = 20


def adapter_meta(ws: Workspace, data: str) -> dict | None:
    """The adapter's adaptdocs.json, or None when there is no complete adapter."""
    path = ws.adapter_dir(data) / "adaptdocs.json"
    if not path.is_file() or not (ws.adapter_dir(data) / "adapter_config.json").is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def trained_on(meta: dict) -> str | None:
    training_set = meta.get("training_set")
    return training_set.get("sha256") if isinstance(training_set, dict) else meta.get("training_set_sha256")


def same_base_model(meta: dict, model: str | None) -> bool:
    """Whether the adapter was trained on the model spec compare evaluates (an adapter only fits its base)."""
    request = meta.get("request")
    return not isinstance(request, dict) or request.get("model") == model


def unknown_sources(questions, documents) -> list[str]:
    """Warnings for question sources that name no stored document (by relative path or file name)."""
    known = {d.relpath for d in documents} | {Path(d.relpath).name for d in documents} | {Path(d.path).name for d in documents}
    warnings = []
    for q in questions:
        missing = [s for s in (q.sources or []) if s not in known]
        if missing:
            warnings.append(f"question {q.id}: unknown source {', '.join(missing)} (not an ingested document)")
    return warnings


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def leaked_questions(questions, training_texts: dict[str, list[str]]) -> list[str]:
    """Warnings for questions whose text appears verbatim (normalised) in a training set.

    A question found in the documents themselves measures memorisation. One found only in an
    augmented set was written by the augmenting model from the documents (question-answer
    augmentation does that by design): worth knowing, for it shows what the augmentation taught.
    Cloze `recall` questions are left out: each is the start of a document's sentence by design,
    and measuring memorisation is what they are for.

    Args:
        questions: the question set.
        training_texts: training set name → its texts; "plain" (the documents) first.
    """
    candidates = {q.id: text for q in questions if not (q.kind == "recall" and q.style == "cloze")
                  and len(text := normalise(q.question)) >= _MIN_LEAK_CHARS}
    warnings, in_documents = [], set()
    for name, texts in training_texts.items():
        haystack = "\n".join(normalise(t) for t in texts)
        hits = [qid for qid, text in candidates.items() if qid not in in_documents and text in haystack]
        if not hits:
            continue
        shown = ", ".join(hits[:5]) + (f" and {len(hits) - 5} more" if len(hits) > 5 else "")
        if name == "plain":
            in_documents = set(hits)
            warnings.append(f"{len(hits)} question(s) appear verbatim in the documents ({shown}): "
                            "their scores measure memorisation, not generalization")
        else:
            warnings.append(f"{len(hits)} question(s) were written verbatim by the augmenting model, from the "
                            f"documents, into training set {name!r} ({shown}): their scores show what it taught")
    return warnings


def augment_cost(ws: Workspace, data: str) -> dict:
    """Tokens processed (prompt + generated; cached prefix tokens excluded) and seconds of augmentation."""
    tokens, seconds = 0, 0.0
    for strategy in STRATEGIES_OF[data]:
        for item in ws.store.augment_items(strategy):
            tokens += (item.get("prompt_tokens") or 0) + (item.get("generated_tokens") or 0)
            seconds += item.get("seconds") or 0.0
    return {"augment_tokens": tokens, "augment_seconds": seconds}


def _train_config(config: CompareConfig):
    if config.train is not None:
        return config.train
    from .config import TrainConfig

    return TrainConfig(model=config.model, seed=config.seed)


def prepare_adapters(ws: Workspace, config: CompareConfig, reporter: Reporter) -> tuple[dict[str, dict], list[str]]:
    """Run augment and train where a fine-tuned condition's inputs are missing or stale.

    Returns (training set → adapter metadata for the conditions that can run, warnings).
    """
    from .training_data import build_training_set

    datas = [c.removeprefix("ft-") for c in config.conditions if c.startswith("ft-")]
    ready, warnings = {}, []
    if not datas:
        return ready, warnings
    train_config = _train_config(config)
    if not config.no_train:
        from .augment import augment

        for strategy in dict.fromkeys(s for d in datas for s in STRATEGIES_OF[d]):
            reporter.log(f"augment {strategy}: bringing augmented examples up to date")
            augment(ws, replace(config.augment, strategy=strategy, model=config.model), reporter)
    for data in datas:
        meta = adapter_meta(ws, data)
        # Without explicit train settings, keep the split the adapter was trained with, as status judges it.
        recorded = (meta or {}).get("training_set")
        split = (recorded.get("split") if isinstance(recorded, dict) and config.train is None else None) or train_config.split
        current = build_training_set(ws, data, split).sha256
        same_model = meta is None or same_base_model(meta, config.model.model)
        fresh = meta is not None and trained_on(meta) == current and same_model
        if config.no_train:
            if meta is None:
                warnings.append(f"ft-{data} skipped: no adapter in {ws.adapter_dir(data)} (--no-train)")
                continue
            if not same_model:
                warnings.append(f"ft-{data} skipped: its adapter was trained on another model (--no-train)")
                continue
            if not fresh:
                warnings.append(f"ft-{data}: adapter is stale (trained on another training set), used anyway (--no-train)")
        elif not fresh:
            why = "missing" if meta is None else ("trained on another model" if not same_model else "stale")
            reporter.log(f"train {data}: adapter {why}, training")
            from .train import train

            train(ws, replace(train_config, data=data, split=split), reporter)
            meta = adapter_meta(ws, data)
            if meta is None:
                raise AdaptdocsError(f"training {data} produced no adapter in {ws.adapter_dir(data)}")
        ready[data] = meta
    return ready, warnings


def _training_texts(ws: Workspace, config: CompareConfig, adapters: dict) -> dict[str, list[str]]:
    """The texts of the plain training set (the corpus itself) and of each adapter evaluated."""
    from .training_data import build_training_set

    split = _train_config(config).split
    return {d: build_training_set(ws, d, split).texts for d in dict.fromkeys(["plain", *adapters])}


def _chance(questions) -> dict:
    by_kind: dict[str, list[float]] = {}
    for q in questions:
        by_kind.setdefault(q.kind, []).append(1 / len(q.choices))
    everything = [p for ps in by_kind.values() for p in ps]
    return {
        "overall": round(sum(everything) / len(everything), 4),
        "by_kind": {k: round(sum(ps) / len(ps), 4) for k, ps in sorted(by_kind.items())},
    }


def compare(ws: Workspace, config: CompareConfig, reporter: Reporter = NullReporter()) -> Report:
    """Bring the requested conditions up to date, evaluate them, and write the report.

    Args:
        ws: the workspace (must hold ingested documents).
        config: question set, conditions, model and settings.
        reporter: progress of every stage (augment, train, evaluation).
    """
    from .questions import load_questions

    ws.require_documents()
    question_set = load_questions(config.questions, strict=config.strict)
    questions = question_set.questions
    warnings = [f"{config.questions}: {p}" for p in question_set.problems]
    if not questions:
        raise AdaptdocsError(f"{config.questions} holds no valid question", "see design.md for the schema")
    documents = ws.store.documents()
    warnings += unknown_sources(questions, documents)
    for w in warnings:
        reporter.log(f"[yellow]warning[/] {w}")

    logged = len(warnings)
    run_id = ws.store.start_run("compare", to_dict(config))
    try:
        adapters, adapter_warnings = prepare_adapters(ws, config, reporter)
        warnings += adapter_warnings
        warnings += leaked_questions(questions, _training_texts(ws, config, adapters))
        for w in warnings[logged:]:
            reporter.log(f"[yellow]warning[/] {w}")
        report = _evaluate_all(ws, config, question_set, documents, adapters, warnings, reporter)
    except BaseException as e:
        ws.store.finish_run(run_id, "interrupted" if isinstance(e, KeyboardInterrupt) else "failed", {"error": str(e)})
        raise
    ws.store.finish_run(run_id, "done", {"report": str(report.path)})
    return report


def _evaluate_all(ws, config, question_set, documents, adapters, warnings, reporter) -> Report:
    from .evaluate import evaluate_condition, prompt_templates, render_prompt
    from .models import load_model
    from .retrieval import build_icl_context
    from .templates import load_template

    questions = question_set.questions
    model_config = config.model
    templates = prompt_templates()
    results, costs, notes, extra, usage = {}, {}, [], {}, {}
    model = None

    def load(adapter=None):
        nonlocal model
        model = None
        gc.collect()
        model = load_model(
            model_config.model, quantize=model_config.quantize, device=model_config.device, adapter=adapter, reporter=reporter
        )
        extra.setdefault("model_info", _info(model))
        return model

    base = load() if {"base", "icl"} & set(config.conditions) else None
    for condition in [c for c in config.conditions if c in ("base", "icl")]:
        if condition == "base":
            results["base"] = evaluate_condition(base, questions, "base", reporter=reporter, batch_size=config.batch_size, templates=templates)
        else:
            prompts = {q.id: render_prompt(q, templates) for q in questions}
            longest = max(base.count_tokens(prompts[q.id] + " " + c) for q in questions for c in q.choices)
            icl = build_icl_context(
                base, load_template("icl_corpus"), documents, ws.store.sentences(),
                {q.id: q.question for q in questions}, longest, config.retrieval_tokens,
            )
            notes.append(icl.note())
            reporter.log(icl.note())
            extra["icl"] = icl.as_dict()
            results["icl"] = evaluate_condition(
                base, questions, "icl", icl.shared_prefix or "", reporter,
                prefixes=icl.prefixes if icl.retrieved else None, batch_size=config.batch_size, templates=templates,
            )
        usage[condition] = results[condition].usage.as_dict()

    for condition in [c for c in config.conditions if c.startswith("ft-")]:
        data = condition.removeprefix("ft-")
        if data not in adapters:
            continue
        base = None
        tuned = load(ws.adapter_dir(data))
        results[condition] = evaluate_condition(tuned, questions, condition, reporter=reporter, batch_size=config.batch_size, templates=templates)
        meta = adapters[data]
        costs[condition] = {
            "train_tokens": meta.get("train_tokens", 0),
            "train_seconds": meta.get("train_seconds", 0.0),
            **augment_cost(ws, data),
        }
        usage[condition] = results[condition].usage.as_dict()

    ordered = {c: results[c] for c in config.conditions if c in results}
    notes.append(
        "prompt_tokens_per_query: tokens of one query's prompt, the icl corpus (or retrieved passages) "
        "included; the choices scored are not counted. seconds_per_query: wall time of scoring all choices / questions."
    )
    data = build_report(
        extra.get("model_info", {}).get("name", model_config.model or "default"),
        {"path": str(question_set.path), "n": len(questions), "sha256": question_set.sha256},
        ordered,
        costs,
        chance=_chance(questions),
        seed=config.seed,
        notes=notes,
        warnings=warnings,
        extra={**extra, "usage": usage, "skipped_conditions": [c for c in config.conditions if c not in results]},
    )
    path = write_report(ws.reports_dir, data, ordered)
    return Report(data, path)


def _info(model) -> dict:
    info = model.info
    result = info.as_dict() if hasattr(info, "as_dict") else dict(vars(info))
    result.pop("adapter", None)
    return result
