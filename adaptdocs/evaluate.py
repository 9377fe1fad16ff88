"""The evaluation stage: score conditions on a question set by log-likelihood, the lm-evaluation-harness way.

For each choice, the summed log-probability of " " + choice after the prompt: `acc` picks the
largest sum, `acc_norm` the largest sum per character of the choice (long choices are not
penalised for having more tokens). Every condition uses the same templates and scoring; only
the model (base or adapter) and, for icl, the prefix before the prompt differ.

`evaluate_conditions` is the stage's entry: load each condition's model once, score it, and
return predictions and per-query cost. Bringing adapters up to date is compare's job, not this one.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .models.base import Model, Usage
from .models.scoring import choice_scores
from .config import ModelConfig, parse_condition
from .progress import NullReporter, Reporter
from .questions import STYLES, QuestionSet
from .templates import PromptTemplate, load_template


@dataclass
class QuestionRecord:
    id: str
    kind: str
    picked: int  # argmax of the summed log-probabilities
    picked_norm: int  # argmax of the log-probability per character
    correct: int  # the index of the right choice
    logprobs: list[float]

    @property
    def hit(self) -> bool:
        return self.picked == self.correct

    @property
    def hit_norm(self) -> bool:
        return self.picked_norm == self.correct

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "picked": self.picked,
            "picked_norm": self.picked_norm,
            "correct": self.correct,
            "logprobs": self.logprobs,
        }


@dataclass
class ConditionResult:
    condition: str
    records: list[QuestionRecord]
    # Tokens in one query's prompt, prefix (icl corpus) included: what a deployment pays per
    # query unless it caches the prefix. Choices are not counted (a real query has none).
    prompt_tokens_per_query: float
    seconds_per_query: float  # wall time of the scoring / questions
    usage: Usage = field(default_factory=Usage)

    @property
    def n(self) -> int:
        return len(self.records)


def prompt_templates() -> dict[str, PromptTemplate]:
    """Style → the evaluation template (templates/eval_<style>.toml)."""
    return {style: load_template(f"eval_{style}") for style in STYLES}


def render_prompt(question, templates: dict[str, PromptTemplate]) -> str:
    style = getattr(question, "style", None) or "question"
    if style not in templates:
        raise ValueError(f"question {question.id}: unknown style {style!r}")
    return templates[style].render(question=question.question)


def score_choices(question, logprobs: Sequence[float]) -> QuestionRecord:
    """Pick by raw sum (acc) and by sum per character of the choice (acc_norm)."""
    picked, picked_norm = choice_scores(logprobs, question.choices)
    return QuestionRecord(
        id=question.id,
        kind=question.kind,
        picked=picked,
        picked_norm=picked_norm,
        correct=question.answer,
        logprobs=list(logprobs),
    )


def evaluate_condition(
    model: Model,
    questions: Sequence,
    condition: str,
    prompt_prefix: str = "",
    reporter: Reporter = NullReporter(),
    *,
    prefixes: dict[str, str] | None = None,
    batch_size: int = 32,
    templates: dict[str, PromptTemplate] | None = None,
) -> ConditionResult:
    """Score every question with `model` and return per-question records and per-query cost.

    Args:
        model: the model of this condition (base, or base with an adapter).
        questions: objects with id, question, choices, answer (index), kind and style.
        condition: the condition's name, for progress and the result.
        prompt_prefix: text before every prompt (the icl corpus), passed as the model's shared
            prefix so it is encoded once.
        reporter: progress, one unit per (question, choice).
        prefixes: question id → its own prefix, when questions do not share one (icl with
            retrieval); questions with the same prefix are still scored in one call.
        batch_size: sequences scored together.
        templates: style → prompt template; default templates/eval_<style>.toml.
    """
    templates = templates or prompt_templates()
    prompts = {q.id: render_prompt(q, templates) for q in questions}
    groups: dict[str, list] = {}
    for q in questions:
        groups.setdefault(prefixes[q.id] if prefixes is not None else prompt_prefix, []).append(q)

    reporter.start(f"evaluate {condition}", sum(len(q.choices) for q in questions))
    logprobs: dict[str, list[float]] = {}
    usage = Usage()
    prompt_tokens = 0
    started = time.perf_counter()
    try:
        for prefix, group in groups.items():
            requests = [(prompts[q.id], " " + choice) for q in group for choice in q.choices]
            scores, call_usage = model.loglikelihood(requests, prefix=prefix, batch_size=batch_size, reporter=reporter)
            usage = usage + call_usage
            offset = 0
            for q in group:
                logprobs[q.id] = list(scores[offset : offset + len(q.choices)])
                offset += len(q.choices)
    finally:
        reporter.finish()
    seconds = time.perf_counter() - started
    for prefix, group in groups.items():
        prefix_tokens = model.count_tokens(prefix) if prefix else 0
        prompt_tokens += sum(prefix_tokens + model.count_tokens(prompts[q.id]) for q in group)
    n = max(len(questions), 1)
    return ConditionResult(
        condition=condition,
        records=[score_choices(q, logprobs[q.id]) for q in questions],
        prompt_tokens_per_query=prompt_tokens / n,
        seconds_per_query=seconds / n,
        usage=usage,
    )


@dataclass
class Evaluation:
    """What the evaluation stage returns: one result per condition that ran, and how icl was built."""

    results: dict[str, ConditionResult]
    model_info: dict  # the base model, as ModelInfo.as_dict() without the adapter
    icl: dict | None = None  # IclContext.as_dict() when icl ran
    notes: list[str] = field(default_factory=list)


def evaluate_conditions(
    ws,
    question_set: QuestionSet,
    conditions: Sequence[str],
    adapters: dict[str, Path],
    model: ModelConfig,
    *,
    batch_size: int = 32,
    retrieval_tokens: int = 1024,
    rag_k: int = 5,
    rag_tokens: int = 512,
    reporter: Reporter = NullReporter(),
) -> Evaluation:
    """Score each condition on one question set with one prompt and one scoring.

    Args:
        ws: the workspace (its corpus is the icl prefix and the rag passages).
        question_set: the questions.
        conditions: base, icl, rag, ft-<data> and rag+ft-<data> names, in report order; a
            fine-tuned condition without an entry in `adapters` is skipped.
        adapters: training set name → its adapter directory.
        model: the base model.
        batch_size: sequences scored together.
        retrieval_tokens: the icl passage budget per question when the corpus does not fit the context.
        rag_k: passages BM25 retrieves per question for the rag conditions.
        rag_tokens: the most passage tokens per question for the rag conditions.
        reporter: progress of loading and scoring.
    """
    from .models import load_model
    from .retrieval import build_icl_context, build_passage_index, rag_prefix, retrieve_passages

    questions = question_set.questions
    templates = prompt_templates()
    evaluation = Evaluation(results={}, model_info={})
    rag_prefixes: dict[str, str] | None = None

    def load(adapter: Path | None = None) -> Model:
        gc.collect()  # the previous condition's weights go before the next are loaded
        loaded = load_model(model.model, quantize=model.quantize, device=model.device, adapter=adapter, reporter=reporter,
                            concurrency=model.concurrency)
        if not evaluation.model_info:
            evaluation.model_info = {k: v for k, v in loaded.info.as_dict().items() if k != "adapter"}
        return loaded

    def rag(scorer: Model) -> dict[str, str]:
        nonlocal rag_prefixes
        if rag_prefixes is None:  # the same passages for every rag condition: one tokenizer, one index
            index = build_passage_index(ws.store.sentences(), ws.store.documents())
            template = load_template("rag_passages")
            rag_prefixes = {q.id: rag_prefix(retrieve_passages(index, q.question, rag_k, rag_tokens, scorer.count_tokens), template)
                            for q in questions}
            evaluation.notes.append(f"rag: BM25 over the corpus sentences with their headings, top {rag_k} passages "
                                    f"within {rag_tokens} tokens per question, in the prompt")
        return rag_prefixes

    by_model: dict[str | None, list[str]] = {}
    for condition in conditions:
        retrieval, data = parse_condition(condition)
        if data is None or data in adapters:
            by_model.setdefault(data, []).append(condition)
    for data, names in by_model.items():  # one load per model: the base, then each adapter
        scorer = load(adapters[data] if data else None)
        for condition in names:
            retrieval = parse_condition(condition)[0]
            prefix, prefixes = "", None
            if retrieval == "icl":
                prompts = [render_prompt(q, templates) for q in questions]
                longest = max(scorer.count_tokens(p + " " + c) for p, q in zip(prompts, questions) for c in q.choices)
                icl = build_icl_context(scorer, load_template("icl_corpus"), ws.store.documents(), ws.store.sentences(),
                                        {q.id: q.question for q in questions}, longest, retrieval_tokens)
                evaluation.icl = icl.as_dict()
                evaluation.notes.append(icl.note())
                reporter.log(icl.note())
                prefix, prefixes = icl.shared_prefix or "", icl.prefixes if icl.retrieved else None
            elif retrieval == "rag":
                prefixes = rag(scorer)
            evaluation.results[condition] = evaluate_condition(
                scorer, questions, condition, prefix, reporter, prefixes=prefixes, batch_size=batch_size, templates=templates)
        scorer = None
    evaluation.results = {c: evaluation.results[c] for c in conditions if c in evaluation.results}
    return evaluation
