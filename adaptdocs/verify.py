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

Exam building uses it on model-written questions (with the exam's own corruptions);
augmentation on every model-written training statement, with the corruptions of
`swap_corruptions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

from .augment_filters import FUNCTION_WORDS, CorpusVocabulary, content_words, stem
from .config import VERIFY_MARGIN
from .exam_facts import name_spans
from .models.base import Model, Usage
from .templates import PromptTemplate, load_template

VERIFY_TEMPLATE = "exam_verify"
# Corruptions per candidate: each is one more scored sequence.
MAX_CORRUPTIONS = 5


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


def verify_many(model: Model, checks: Sequence[Check], margin: float = VERIFY_MARGIN, *, calibrate: bool = False,
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
           margin: float = VERIFY_MARGIN, calibrate: bool = False) -> Verdict:
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


def swap_corruptions(candidate: str, sources: Sequence[str], vocabulary: CorpusVocabulary,
                     kin: Callable[[str], list[str]] | None, limit: int = MAX_CORRUPTIONS) -> list[str]:
    """The candidate made false by moving its names, most telling first.

    1. two of its names exchanged (the relation turned around: "X owns Y" → "Y owns X");
    2. one of its names replaced by another name of the sources (the wrong name in the slot, the
       error a small model makes: "Which server is Kelm? Dorvale." where Dorvale is the hall);
    3. one of its names replaced by a name of the same kind from elsewhere in the corpus (`kin`).
    A candidate without names gives none: it cannot be checked this way. The first two kinds are
    the telling ones: a wrong statement can beat a name the sources never mention (kind 3) just by
    copying the sources' names, but it loses to the right one among them.

    Args:
        candidate: the statement (or "question? answer.").
        sources: the sentences it should follow from.
        vocabulary: tells names from ordinary words.
        kin: other names of a name's kind in the corpus, best first; None: only kinds 1 and 2.
        limit: the most corruptions returned.
    """
    own = list(dict.fromkeys(n for *_, n in name_spans(candidate, vocabulary.names(candidate))))
    if not own:
        return []
    in_sources = [n for text in sources for *_, n in name_spans(text, vocabulary.names(text))]
    foreign = [n for n in dict.fromkeys(in_sources) if not _overlaps(n, own)]
    made = []
    if len(own) >= 2:
        made.append(_replace(candidate, {own[0]: own[1], own[1]: own[0]}))
    for name in own:
        made += [_replace(candidate, {name: other}) for other in foreign[:2]]
    for name in own if kin is not None else ():
        made += [_replace(candidate, {name: other}) for other in kin(name)
                 if not _overlaps(other, own) and other not in in_sources][:1]
    return [c for c in dict.fromkeys(made) if c != candidate][:limit]


def _overlaps(name: str, names: Sequence[str]) -> bool:
    low = name.lower()
    return any(low in n.lower() or n.lower() in low for n in names)


def _replace(text: str, mapping: dict[str, str]) -> str:
    """Each name of `mapping` replaced, all at once, wherever it stands as a whole word."""
    import re

    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(mapping, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def restates(candidate: str, sources: Sequence[str]) -> bool:
    """Whether every content word of the candidate (roughly stemmed) is in the sources: a
    restatement that adds nothing, the only kind of statement about fewer than two names of its
    sources that this module can vouch for."""
    have = {stem(w) for text in sources for w in content_words(text)}
    return all(stem(w) in have for w in content_words(candidate))
