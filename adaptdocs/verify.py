"""In-context verification: does a statement follow from its source sentences better than its
corruptions do?

The model reads the sources, then scores the candidate and each corruption (the same statement
with a name swapped for another of its kind, or with its relation turned around) as the
continuation. The candidate is kept only if it beats every corruption by `margin` nats. Every
verdict says why.

The score is log p(statement | sources). With `calibrate`, it is what the sources add to it,
log p(statement | sources) − log p(statement | no sources), so that a name the model finds likely
anyway does not win; that costs a second scoring of every statement. The corruptions of the
exam swap in names the sources lack, so the plain score serves there.

Exam building uses it on model-written questions; augmentation can use it on model-written
training statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from .augment_filters import FUNCTION_WORDS
from .models.base import Model, Usage
from .templates import PromptTemplate, load_template

VERIFY_TEMPLATE = "exam_verify"
# Nats by which the candidate must beat each corruption.
DEFAULT_MARGIN = 1.0


@cache
def _template() -> PromptTemplate:
    return load_template(VERIFY_TEMPLATE)


@dataclass
class Verdict:
    """Whether a candidate is supported by its sources, and why.

    Args:
        ok: the candidate beat every corruption by the margin.
        reason: one line, e.g. "beats 4 corruptions by >= 1.0 (least 2.31 over '...')".
        margin: the smallest lead over a corruption (negative: a corruption scored higher).
        score: the candidate's score.
        corruption_scores: each corruption's score, in order.
    """

    ok: bool
    reason: str
    margin: float
    score: float
    corruption_scores: list[float] = field(default_factory=list)


@dataclass
class Check:
    """One candidate to verify: the statement, the sentences it should follow from, its corruptions."""

    candidate: str
    sources: Sequence[str]
    corruptions: Sequence[str]


def _contexts(template: PromptTemplate, sources: Sequence[str]) -> tuple[str, str]:
    return template.render(sources=" ".join(sources)), template.render(sources="")


def _continuation(text: str) -> str:
    """The statement as it continues "It follows that": a leading "The" or "Every" lower-cased."""
    first, _, rest = text.partition(" ")
    return " " + (first.lower() if first.lower() in FUNCTION_WORDS else first) + (" " + rest if rest else "")


def verify_many(model: Model, checks: Sequence[Check], margin: float = DEFAULT_MARGIN, *, calibrate: bool = False,
                batch_size: int = 32, template: PromptTemplate | None = None) -> tuple[list[Verdict], Usage]:
    """Verify many candidates with one batched log-likelihood call.

    Args:
        model: scores the statements.
        checks: the candidates with their sources and corruptions.
        margin: nats by which a candidate must beat each corruption.
        calibrate: subtract each statement's score without the sources (twice the scoring).
        batch_size: sequences scored together.
        template: the verification prompt (`$sources`); default templates/exam_verify.toml.
    """
    template = template or _template()
    contexts = 2 if calibrate else 1
    requests, spans = [], []
    for check in checks:
        with_sources, without = _contexts(template, check.sources)
        start = len(requests)
        for text in (check.candidate, *check.corruptions):
            requests += [(with_sources, _continuation(text)), (without, _continuation(text))][:contexts]
        spans.append((start, len(requests)))
    if not requests:
        return [], Usage()
    scores, usage = model.loglikelihood(requests, batch_size=batch_size)
    verdicts = []
    for check, (start, end) in zip(checks, spans):
        values = [scores[i] - (scores[i + 1] if calibrate else 0.0) for i in range(start, end, contexts)]
        verdicts.append(_verdict(check, values[0], values[1:], margin))
    return verdicts, usage


def _verdict(check: Check, score: float, corrupted: list[float], margin: float) -> Verdict:
    if not corrupted:
        return Verdict(False, "no corruption to compare with", float("-inf"), score)
    leads = [score - c for c in corrupted]
    worst = min(range(len(leads)), key=leads.__getitem__)
    least = leads[worst]
    ok = least >= margin
    if ok:
        reason = f"beats {len(leads)} corruptions by >= {margin:g} (least {least:.2f} over {check.corruptions[worst]!r})"
    else:
        reason = f"{check.corruptions[worst]!r} is within {margin:g} of it (lead {least:.2f})"
    return Verdict(ok, reason, least, score, corrupted)


def verify(model: Model, candidate: str, sources: Sequence[str], corruptions: Sequence[str],
           margin: float = DEFAULT_MARGIN, calibrate: bool = False) -> Verdict:
    """Whether `candidate` follows from `sources` better than each of `corruptions`, by `margin` nats.

    Args:
        model: scores the statements.
        candidate: the statement (or "question? answer.") to check.
        sources: the sentences it should follow from, shown in the prompt.
        corruptions: the same statement made false: a name swapped for another of its kind, or
            the relation turned around.
        margin: nats by which the candidate's score must beat each corruption's.
        calibrate: score what the sources add (see the module docstring).
    """
    verdicts, _ = verify_many(model, [Check(candidate, sources, corruptions)], margin, calibrate=calibrate)
    return verdicts[0]
