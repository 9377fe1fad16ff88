"""Training sets: the corpus as training text, plus augmented examples, with a content hash.

Light on purpose (no torch): `status` builds training sets to tell whether an adapter is stale.

Sentence splitting follows Lampinen et al. 2025: `independent` makes one example per sentence
(their best setting), `cumulative` one example per sentence with all earlier sentences of its
document, `document` one example per whole document.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import groupby

from .config import SPLITS, STRATEGIES, TRAINING_SETS, _check
from .store import Sentence, Store


@dataclass
class TrainingSet:
    name: str  # plain | local | global | both
    split: str  # independent | cumulative | document
    texts: list[str]
    sha256: str
    sources: dict[str, int] = field(default_factory=dict)  # examples per origin: sentences, local, global


def build_training_set(ws, data: str, split: str = "independent") -> TrainingSet:
    """The training texts of one training set, in a deterministic order, with their hash.

    Args:
        ws: the Workspace.
        data: plain (the corpus) | local | global (the corpus plus that strategy's augmented
            examples) | both (the corpus plus all augmented examples).
        split: how the corpus becomes examples: independent | cumulative | document.
    """
    _check(data, TRAINING_SETS, "--data")
    _check(split, SPLITS, "--split")
    store: Store = ws.store
    texts = corpus_texts(store.sentences(), split)
    sources = {"sentences": len(texts)}
    strategies = STRATEGIES if data == "both" else (() if data == "plain" else (data,))
    for strategy in strategies:
        augmented = usable_examples(store, strategy)
        texts += augmented
        sources[strategy] = len(augmented)
    digest = hashlib.sha256(json.dumps({"split": split, "texts": texts}, ensure_ascii=False).encode()).hexdigest()
    return TrainingSet(name=data, split=split, texts=texts, sha256=digest, sources=sources)


def corpus_texts(sentences: list[Sentence], split: str) -> list[str]:
    """The corpus sentences (in corpus order) as training examples under one sentence split.

    Args:
        sentences: every sentence, ordered by document then position (Store.sentences()).
        split: independent | cumulative | document.
    """
    texts: list[str] = []
    for _, group in groupby(sentences, key=lambda s: s.document_id):
        doc = list(group)
        if split == "independent":
            texts += [with_context(s.context, s.text) for s in doc]
            continue
        # In running text a list's heading is said once, before its first item.
        rendered = [
            with_context(s.context, s.text) if s.context and (i == 0 or doc[i - 1].context != s.context) else s.text
            for i, s in enumerate(doc)
        ]
        if split == "cumulative":
            texts += [" ".join(rendered[: i + 1]) for i in range(len(rendered))]
        else:
            texts.append(" ".join(rendered))
    return texts


def with_context(context: str | None, text: str) -> str:
    """A list item read with its heading, as a person would: "Deployment steps: run the migration."."""
    if not context:
        return text
    context = context.strip().rstrip(":").strip()
    return f"{context}: {text}" if context else text


def usable_examples(store: Store, strategy: str) -> list[str]:
    """Texts of a strategy's augmented examples whose source documents are all still in the store.

    An example derived from a document that was changed or removed is stale: it may state facts
    the corpus no longer holds, so it is left out until augment runs again. A global example was
    written with the whole corpus in context, so any corpus change makes it stale (as augment and
    status judge it).
    """
    documents = set(store.document_paths().values())
    stale_items: set[str] = set()
    if strategy == "global":
        corpus_hash = store.corpus_hash()
        stale_items = {i["key"] for i in store.augment_items(strategy) if i["corpus_hash"] != corpus_hash}
    return [
        row["text"]
        for row in store.examples(strategy)
        if row["item_key"] not in stale_items
        and all(d in documents for d in json.loads(row["source_document_ids"] or "[]"))
    ]
