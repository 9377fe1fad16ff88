"""`adaptdocs compare`: bring every requested condition up to date, evaluate them all on one
question set with one prompt and one scoring, and write the report.

What is missing or stale runs first: augmentation for the strategies a fine-tuned condition
needs (augment is resumable and skips finished items), then training where `lineage` judges an
adapter missing or stale, exactly as `adaptdocs train` and `adaptdocs status` judge it. Scoring
is the evaluation stage's (evaluate.py); compare only orchestrates.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .augment_filters import normalise
from .config import CompareConfig, TrainConfig, parse_condition, to_dict
from .errors import AdaptdocsError
from .lineage import CorpusState, adapter_currency, report_inputs
from .progress import NullReporter, Reporter
from .report import Report, build_report, write_report
from .workspace import Workspace

# Training set (adapters/<data>) → the augmentation strategies it is built from.
STRATEGIES_OF = {"plain": (), "local": ("local",), "global": ("global",), "both": ("local", "global")}
# Shorter questions ("Who?") would match training text by accident.
_MIN_LEAK_CHARS = 20


def unknown_sources(questions, documents) -> list[str]:
    """Warnings for question sources that name no stored document (by relative path or file name)."""
    known = {d.relpath for d in documents} | {Path(d.relpath).name for d in documents} | {Path(d.path).name for d in documents}
    warnings = []
    for q in questions:
        missing = [s for s in (q.sources or []) if s not in known]
        if missing:
            warnings.append(f"question {q.id}: unknown source {', '.join(missing)} (not an ingested document)")
    return warnings


def leaked_questions(questions, training_texts: dict[str, list[str]]) -> list[str]:
    """Warnings for questions whose text appears verbatim (normalised) in a training set.

    A question found in the documents themselves measures memorisation. One found only in an
    augmented set was written by augmentation from the documents (the model's question-answer
    pairs, the rules' questions: by design): worth knowing, for it shows what the augmentation taught.
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
            warnings.append(f"{len(hits)} question(s) were written verbatim by augmentation (the model or its rules), "
                            f"from the documents, into training set {name!r} ({shown}): their scores show what it taught")
    return warnings


def augment_cost(ws: Workspace, data: str) -> dict:
    """Tokens processed (prompt + generated; cached prefix tokens excluded) and seconds of augmentation."""
    tokens, seconds = 0, 0.0
    for strategy in STRATEGIES_OF[data]:
        for item in ws.store.augment_items(strategy):
            tokens += (item.get("prompt_tokens") or 0) + (item.get("generated_tokens") or 0)
            seconds += item.get("seconds") or 0.0
    return {"augment_tokens": tokens, "augment_seconds": seconds}


def train_config(config: CompareConfig) -> TrainConfig:
    """The training settings compare judges and trains adapters with: its own, else the defaults."""
    return config.train if config.train is not None else TrainConfig(model=config.model, seed=config.seed)


def prepare_adapters(ws: Workspace, config: CompareConfig, reporter: Reporter) -> tuple[dict[str, dict], list[str]]:
    """Run augment and train where a fine-tuned condition's inputs are missing or stale.

    Returns (training set → adapter record for the conditions that can run, warnings).
    """
    datas = list(dict.fromkeys(d for c in config.conditions if (d := parse_condition(c)[1])))
    ready, warnings = {}, []
    if not datas:
        return ready, warnings
    settings = train_config(config)
    if not config.no_train:
        from .augment import augment

        summary = None
        for strategy in dict.fromkeys(s for d in datas for s in STRATEGIES_OF[d]):
            reporter.log(f"augment {strategy}: bringing augmented examples up to date")
            summary = augment(ws, replace(config.augment, strategy=strategy, model=config.teacher or config.model), reporter)
        if summary and summary.coverage:  # of every strategy's examples
            reporter.log(f"augment: {summary.coverage.describe()}")
    state = CorpusState(ws.store)
    for data in datas:
        judged = adapter_currency(ws, replace(settings, data=data), state)
        why = "; ".join(judged.currency.changed)
        if config.no_train:
            if judged.missing:
                warnings.append(f"ft-{data} skipped: no adapter in {ws.adapter_dir(data)} (--no-train)")
                continue
            if not judged.currency.current:
                warnings.append(f"ft-{data}: adapter is stale ({why}), used anyway (--no-train)")
        elif not judged.currency.current:
            reporter.log(f"train {data}: adapter {'missing' if judged.missing else 'stale: ' + why}, training")
            from .train import train

            train(ws, replace(settings, data=data), reporter)
            judged = adapter_currency(ws, replace(settings, data=data))
            if judged.missing:
                raise AdaptdocsError(f"training {data} produced no adapter in {ws.adapter_dir(data)}")
        ready[data] = judged.record
    return ready, warnings


def _training_texts(ws: Workspace, config: CompareConfig, adapters: dict) -> dict[str, list[str]]:
    """The texts of the plain training set (the corpus itself) and of each adapter evaluated."""
    from .training_data import build_training_set

    split = train_config(config).split
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
    from .evaluate import evaluate_conditions
    from .questions import load_questions

    ws.require_documents()
    exam = None
    if not config.questions:  # no question file: the exam built from the documents (rebuilt when they change)
        from .exam import ExamConfig, build_exam

        exam = build_exam(ws, ExamConfig(size=config.exam_size, seed=config.seed, teacher=config.model,
                                          model_written=config.exam_by_model), reporter=reporter)
    source = str(exam.path) if exam else config.questions
    question_set = load_questions(source, strict=config.strict)
    questions = question_set.questions
    warnings = [f"{source}: {p}" for p in question_set.problems]
    if not questions:
        raise AdaptdocsError(f"{source} holds no valid question", "see design.md for the schema")
    warnings += unknown_sources(questions, ws.store.documents())
    # Warnings go into the report; the CLI prints them once, at the end.
    run_id = ws.store.start_run("compare", to_dict(config))
    try:
        adapters, adapter_warnings = prepare_adapters(ws, config, reporter)
        warnings += adapter_warnings
        warnings += leaked_questions(questions, _training_texts(ws, config, adapters))
        evaluation = evaluate_conditions(
            ws, question_set, config.conditions, {d: ws.adapter_dir(d) for d in adapters}, config.model,
            batch_size=config.batch_size, retrieval_tokens=config.retrieval_tokens, rag_k=config.rag_k,
            rag_tokens=config.rag_tokens, reporter=reporter,
        )
        report = _write_report(ws, config, question_set, evaluation, adapters, warnings, exam)
    except BaseException as e:
        ws.store.finish_run(run_id, "interrupted" if isinstance(e, KeyboardInterrupt) else "failed", {"error": str(e)})
        raise
    ws.store.finish_run(run_id, "done", {"report": str(report.path)})
    return report


def _write_report(ws: Workspace, config: CompareConfig, question_set, evaluation, adapters: dict, warnings: list[str],
                  exam=None) -> Report:
    results = evaluation.results
    costs = {
        condition: {"train_tokens": adapters[data].get("train_tokens", 0), "train_seconds": adapters[data].get("train_seconds", 0.0),
                    **augment_cost(ws, data)}
        for condition in results if (data := parse_condition(condition)[1])
    }
    notes = ([exam.summary()] if exam else []) + evaluation.notes + [
        "prompt_tokens_per_query: tokens of one query's prompt, the icl corpus (or retrieved passages) "
        "included; the choices scored are not counted. seconds_per_query: wall time of scoring all choices / questions."
    ]
    used = {data: adapters[data].get("inputs") for c in results if (data := parse_condition(c)[1])}
    extra = {"model_info": evaluation.model_info,
             "usage": {c: r.usage.as_dict() for c, r in results.items()},
             "skipped_conditions": [c for c in config.conditions if c not in results],
             "inputs": report_inputs(question_set.sha256, used, config.model)}
    if evaluation.icl is not None:
        extra["icl"] = evaluation.icl
    if exam is not None:
        extra["exam"] = exam.as_dict()
    data = build_report(
        evaluation.model_info.get("name", config.model.model or "default"),
        {"path": str(question_set.path), "n": len(question_set.questions), "sha256": question_set.sha256},
        results, costs, chance=_chance(question_set.questions), seed=config.seed, notes=notes, warnings=warnings,
        extra=extra,
    )
    return Report(data, write_report(ws.reports_dir, data, results))
