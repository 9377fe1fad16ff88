"""Training sets: the corpus as training text, plus augmented examples, with a content hash.

Light on purpose (no torch): `status` builds training sets to tell whether an adapter is stale.
Every row keeps its provenance (source sentences and documents, the augmented example's id).

Sentence splitting follows Lampinen et al. 2025: `independent` makes one example per sentence
(their best setting), `cumulative` one example per sentence with all earlier sentences of its
document, `document` one example per whole document.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from itertools import groupby

from . import atomic
from .config import SPLITS, STRATEGIES, TRAINING_SETS, _check
from .lineage import CorpusState, usable_examples
from .store import Sentence, Store


@dataclass
class TrainingRow:
    """One training example with where it came from.

    Args:
        text: what the model is trained on.
        kind: sentence (the corpus itself) | augmented (an example the model wrote).
        source_sentence_ids: the corpus sentences it states or was made from.
        source_document_ids: their documents.
        example_id: the augmented example's id in the store (None for corpus sentences).
        template: the augmentation template that wrote it (None for corpus sentences).
    """

    text: str
    kind: str
    source_sentence_ids: list[str]
    source_document_ids: list[str]
    example_id: str | None = None
    template: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingSet:
    name: str  # plain | local | global | both
    split: str  # independent | cumulative | document
    rows: list[TrainingRow]
    sha256: str  # over the split and the texts: what decides the adapter's weights

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.rows]

    def composition(self) -> dict:
        """Rows per origin: corpus sentences, and augmented examples per strategy and template."""
        counts = Counter("sentences" if r.kind == "sentence" else f"augmented:{r.template}" for r in self.rows)
        return dict(sorted(counts.items()))

    def document_ids(self) -> list[str]:
        """The documents this training set teaches, in first-seen order."""
        return list(dict.fromkeys(d for r in self.rows for d in r.source_document_ids))


def build_training_set(ws, data: str, split: str = "independent", state: CorpusState | None = None) -> TrainingSet:
    """The training rows of one training set, in a deterministic order, with their hash.

    Args:
        ws: the Workspace.
        data: plain (the corpus) | local | global (the corpus plus that strategy's augmented
            examples) | both (the corpus plus all augmented examples).
        split: how the corpus becomes examples: independent | cumulative | document.
        state: the corpus state augmented examples are judged against (lineage); read now if None.
    """
    _check(data, TRAINING_SETS, "--data")
    _check(split, SPLITS, "--split")
    store: Store = ws.store
    rows = corpus_rows(store.sentences(), split)
    strategies = STRATEGIES if data == "both" else (() if data == "plain" else (data,))
    state = state or CorpusState(store)
    for strategy in strategies:
        rows += [
            TrainingRow(e["text"], "augmented", json.loads(e["source_sentence_ids"] or "[]"),
                        json.loads(e["source_document_ids"] or "[]"), e["id"], e["template"])
            for e in usable_examples(store, strategy, state)
        ]
    digest = hashlib.sha256(json.dumps({"split": split, "texts": [r.text for r in rows]}, ensure_ascii=False).encode()).hexdigest()
    return TrainingSet(name=data, split=split, rows=rows, sha256=digest)


def corpus_rows(sentences: list[Sentence], split: str) -> list[TrainingRow]:
    """The corpus sentences (in corpus order) as training rows under one sentence split.

    Args:
        sentences: every sentence, ordered by document then position (Store.sentences()).
        split: independent | cumulative | document.
    """
    rows: list[TrainingRow] = []
    for document_id, group in groupby(sentences, key=lambda s: s.document_id):
        doc = list(group)
        if split == "independent":
            rows += [TrainingRow(with_context(s.context, s.text), "sentence", [s.id], [document_id]) for s in doc]
            continue
        # In running text a list's heading is said once, before its first item.
        rendered = [
            with_context(s.context, s.text) if s.context and (i == 0 or doc[i - 1].context != s.context) else s.text
            for i, s in enumerate(doc)
        ]
        if split == "cumulative":
            rows += [TrainingRow(" ".join(rendered[: i + 1]), "sentence", [s.id for s in doc[: i + 1]], [document_id])
                     for i in range(len(rendered))]
        else:
            rows.append(TrainingRow(" ".join(rendered), "sentence", [s.id for s in doc], [document_id]))
    return rows


def with_context(context: str | None, text: str) -> str:
    """A list item read with its heading, as a person would: "Deployment steps: run the migration."."""
    if not context:
        return text
    context = context.strip().rstrip(":").strip()
    return f"{context}: {text}" if context else text


def export_training_set(training_set: TrainingSet, path) -> None:
    """Write the training set as JSONL (`datasets.load_dataset("json", ...)` reads it), ids kept."""
    atomic.write_text(path, "".join(json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in training_set.rows))
