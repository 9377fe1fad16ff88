"""The corpus for the icl condition: the whole of it when it fits the model's context, else
the passages BM25 ranks most relevant to each question, up to a token budget.

When the corpus fits, it is one prefix shared by every question (encoded once). When it does
not, every question gets its own prefix, so nothing is shared across questions; the report
says which happened.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import AdaptdocsError
from .models.base import Model
from .store import Document, Sentence
from .templates import PromptTemplate
from .training_data import with_context

_WORD = re.compile(r"\w+")
# Tokens a tokenizer may add or merge where two pieces of text are joined.
_JOIN_MARGIN = 8


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25:
    """Okapi BM25 over a fixed list of passages (Lucene's non-negative IDF).

    Args:
        passages: the texts to rank.
        k1: term-frequency saturation.
        b: length normalisation (0: none, 1: full).
    """

    def __init__(self, passages: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.term_counts = [Counter(tokenize(p)) for p in passages]
        self.lengths = [sum(c.values()) for c in self.term_counts]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        n = len(passages)
        document_frequency = Counter(term for counts in self.term_counts for term in counts)
        self.idf = {t: math.log((n - df + 0.5) / (df + 0.5) + 1.0) for t, df in document_frequency.items()}

    def scores(self, query: str) -> list[float]:
        terms = [t for t in tokenize(query) if t in self.idf]
        result = []
        for counts, length in zip(self.term_counts, self.lengths):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg_length) if self.avg_length else self.k1
            result.append(
                sum(self.idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in terms if t in counts)
            )
        return result

    def rank(self, query: str, scores: list[float] | None = None) -> list[int]:
        """Passage indices, best first (ties keep corpus order)."""
        scores = self.scores(query) if scores is None else scores
        return sorted(range(len(scores)), key=lambda i: -scores[i])


@dataclass
class IclContext:
    """What the icl condition puts before each question's prompt."""

    shared_prefix: str | None  # the whole corpus, when it fits: one prefix for every question
    prefixes: dict[str, str] = field(default_factory=dict)  # question id → own prefix, when it does not
    corpus_tokens: int = 0
    context_length: int = 0
    budget_tokens: int | None = None  # retrieval budget per question, when retrieving
    passages: int = 0

    @property
    def retrieved(self) -> bool:
        return self.shared_prefix is None

    def prefix_for(self, question_id: str) -> str:
        return self.shared_prefix if self.shared_prefix is not None else self.prefixes[question_id]

    def note(self) -> str:
        if not self.retrieved:
            return f"icl: whole corpus in the prompt ({self.corpus_tokens:,} tokens, context {self.context_length:,})"
        return (
            f"icl: corpus {self.corpus_tokens:,} tokens > context {self.context_length:,}: "
            f"BM25 top passages per question, budget {self.budget_tokens:,} tokens"
        )

    def as_dict(self) -> dict:
        return {
            "mode": "retrieval" if self.retrieved else "whole_corpus",
            "corpus_tokens": self.corpus_tokens,
            "context_length": self.context_length,
            "budget_tokens": self.budget_tokens,
            "passages": self.passages,
            "note": self.note(),
        }


def corpus_text(documents: Sequence[Document]) -> str:
    """The documents as the icl prompt shows them: each under its relative path."""
    return "\n\n".join(f"# {d.relpath}\n{d.text}" for d in documents)


def passage_text(sentence: Sentence) -> str:
    """A sentence read with its heading, as training shows it."""
    return with_context(sentence.context, sentence.text)


def build_icl_context(
    model: Model,
    template: PromptTemplate,
    documents: Sequence[Document],
    sentences: Sequence[Sentence],
    queries: dict[str, str],
    longest_request_tokens: int,
    max_retrieval_tokens: int,
) -> IclContext:
    """Decide what the icl condition shows each question.

    Args:
        model: gives the context length and the tokenizer.
        template: the icl template, with a `$corpus` placeholder.
        documents: the workspace's documents, in corpus order.
        sentences: the workspace's sentences in corpus order: the passages retrieval picks from.
        queries: question id → the text to retrieve with (the question).
        longest_request_tokens: tokens of the longest prompt plus choice that must fit after the prefix.
        max_retrieval_tokens: the most passage tokens per question when retrieving (each question
            pays them, since nothing is shared).
    """
    context_length = model.info.context_length
    whole = template.render(corpus=corpus_text(documents))
    corpus_tokens = model.count_tokens(whole)
    if corpus_tokens + longest_request_tokens + _JOIN_MARGIN <= context_length:
        return IclContext(whole, corpus_tokens=corpus_tokens, context_length=context_length)

    overhead = model.count_tokens(template.render(corpus=""))
    budget = min(max_retrieval_tokens, context_length - longest_request_tokens - overhead - 2 * _JOIN_MARGIN)
    if budget <= 0:
        raise AdaptdocsError(
            f"no room for icl passages: the model's context is {context_length} tokens and the longest question "
            f"with a choice takes {longest_request_tokens}",
            "shorten the questions or choices, use a model with a longer context, or leave icl out of --conditions",
        )
    texts = [passage_text(s) for s in sentences]
    lengths = [model.count_tokens(t) + 1 for t in texts]  # +1: the newline joining passages
    index = BM25(texts)
    prefixes = {}
    for question_id, query in queries.items():
        chosen, used = [], 0
        scores = index.scores(query)
        for i in index.rank(query, scores):
            if scores[i] <= 0:
                break  # the rest share no word with the question
            if used + lengths[i] <= budget:
                chosen.append(i)
                used += lengths[i]
        # Corpus order reads more naturally than score order, and keeps a document's sentences together.
        prefixes[question_id] = template.render(corpus="\n".join(texts[i] for i in sorted(chosen)))
    return IclContext(
        None, prefixes, corpus_tokens=corpus_tokens, context_length=context_length, budget_tokens=budget,
        passages=len(texts),
    )


# -- Retrieval of top-k passages (the rag conditions and `adaptdocs ask`) ----------------------


@dataclass
class Passage:
    """One retrieved sentence, read with its heading, and where it came from."""

    text: str  # what the prompt shows (passage_text: the sentence with its heading)
    sentence_id: str
    document_id: str
    file: str  # the document's path relative to the ingested folder
    score: float | None  # BM25 score for the question; None where nothing was ranked (whole corpus)
    position: int  # index in corpus order: rag_prefix shows passages in this order

    def as_dict(self) -> dict:
        return {"file": self.file, "sentence_id": self.sentence_id, "score": self.score, "text": self.text}


@dataclass
class PassageIndex:
    """The corpus sentences as passages, with their files and a BM25 index, built once for many questions."""

    sentences: list[Sentence]
    texts: list[str]
    files: list[str]
    bm25: BM25

    def passage(self, i: int, score: float | None = None) -> Passage:
        s = self.sentences[i]
        return Passage(self.texts[i], s.id, s.document_id, self.files[i], score, i)


def build_passage_index(sentences: Sequence[Sentence], documents: Sequence[Document] = ()) -> PassageIndex:
    """Index `sentences` (corpus order) for retrieve_passages.

    Args:
        sentences: the workspace's sentences, in corpus order (`ws.store.sentences()`).
        documents: the workspace's documents (`ws.store.documents()`), to name each passage's file;
            a sentence whose document is not among them is named by its document id.
    """
    files = {d.id: d.relpath for d in documents}
    texts = [passage_text(s) for s in sentences]
    return PassageIndex(list(sentences), texts, [files.get(s.document_id, s.document_id) for s in sentences], BM25(texts))


def retrieve_passages(
    index_or_sentences: PassageIndex | Sequence[Sentence],
    question: str,
    k: int | None,
    budget_tokens: int | None,
    count_tokens: Callable[[str], int],
) -> list[Passage]:
    """The top-k passages for `question` by BM25, best first, within a token budget.

    Passages are taken in score order; one that would overflow the budget is passed over for a
    shorter one further down, as the icl fallback does. Passages sharing no word with the
    question (score 0) are never taken, and a text already taken is not taken twice.

    Args:
        index_or_sentences: a PassageIndex (build it once for many questions), or the sentences
            themselves (files then show as document ids).
        question: the text to retrieve with.
        k: the most passages; None for no limit but the budget.
        budget_tokens: the most tokens of passages, each counted with the newline joining it to the
            next; None for no budget.
        count_tokens: the model's token counter (`model.count_tokens`); called only for candidates.
    """
    index = index_or_sentences if isinstance(index_or_sentences, PassageIndex) else build_passage_index(index_or_sentences)
    scores = index.bm25.scores(question)
    chosen: list[Passage] = []
    taken: set[str] = set()
    used = 0
    for i in index.bm25.rank(question, scores):
        if scores[i] <= 0 or (k is not None and len(chosen) >= k):
            break
        if index.texts[i] in taken:
            continue
        cost = count_tokens(index.texts[i]) + 1  # +1: the newline joining passages
        if budget_tokens is not None and used + cost > budget_tokens:
            continue
        chosen.append(index.passage(i, round(scores[i], 4)))
        taken.add(index.texts[i])
        used += cost
    return chosen


def rag_prefix(passages: Sequence[Passage], template: PromptTemplate) -> str:
    """The prompt prefix showing `passages`, one a line, in corpus order (a document's sentences
    read together, as in the icl fallback).

    Args:
        passages: from retrieve_passages.
        template: templates/rag_passages.toml (placeholder `$passages`), or icl_corpus.toml
            (placeholder `$corpus`): both are filled.
    """
    joined = "\n".join(p.text for p in sorted(passages, key=lambda p: p.position))
    return template.render(passages=joined, corpus=joined)
