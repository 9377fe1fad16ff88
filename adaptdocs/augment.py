"""Augmentation: the model writes its own in-context inferences about the corpus.

Two strategies (Lampinen et al. 2025):
- local: per corpus sentence and per template (rephrase, reverse, infer, question-answer pairs),
  a few-shot completion prompt whose worked examples are shared by every sentence, so they are
  encoded once;
- global: per document, the whole corpus in context (encoded once and reused), then a prompt to
  write statements that connect the document with the others. A corpus longer than the model's
  context is cut into windows of documents that share names.

Each unit of work (a sentence × template, or a document) is an item whose key hashes everything
its output depends on. An item and its kept examples are saved in one transaction as soon as its
batch comes back, so a killed run loses at most one batch, and a rerun skips finished items.
Items whose sources changed are stale and are redone.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache

from . import atomic
from .augment_filters import (
    MIN_WORDS,
    CorpusVocabulary,
    StatementFilter,
    WorkedExamples,
    lost_link,
    statement_order,
    pair_reason_to_drop,
    split_question_answers,
    split_statements,
    words,
)
from . import augment_chains, augment_closure, augment_lists
from .augment_chains import CHAIN_TEMPLATE, Chain, read_chain_output
from .augment_closure import CLOSURE_TEMPLATE, Implication
from .augment_comparisons import COMPARISON_TEMPLATE, Comparisons
from .augment_lists import LIST_TEMPLATE, ListGroup, read_list_output
from .augment_records import RECORD_TEMPLATE, record_writings, value_owners
from .config import AugmentConfig, to_dict
from .exam_facts import FactIndex, names_in, read_facts
from .lineage import CorpusState, item_currency, item_inputs, model_fingerprint, sha, template_fingerprint
from .models.base import Model, Usage
from .progress import NullReporter, Reporter
from .sentences import record_fields
from .store import Sentence, Store, now
from .templates import PromptTemplate, load_template
from .verify import VERIFY_TEMPLATE, Check, Verdict, restates, swap_corruptions, verify_many
from .workspace import Workspace

QUESTION_TEMPLATE = "augment_question"
LOCAL_TEMPLATES = ("augment_rephrase", "augment_reverse", "augment_infer", QUESTION_TEMPLATE)
# A comparison is reversed by its own template: among other examples, the small default model
# carries "older than" into sentences that compare nothing, and keeps "faster" when it should flip.
_COMPARISON = re.compile(r"\bthan\b", re.IGNORECASE)
GLOBAL_TEMPLATE = "augment_global"
# How one document is laid out inside the corpus block of the global prompt.
GLOBAL_DOCUMENT_TEMPLATE = "augment_global_document"
_SENTINEL = "\x00adaptdocs-sentinel\x00"
# Facts of one document joined with linked facts elsewhere, the strongest links first. Each prompt
# decodes against the whole corpus: on sample_corpus 24 a document took 6.5 min of the demo for
# 28 kept examples, most of them one source restated; chains and lists (rule-picked pairs and
# groups, short prompts) cover the rest of the links.
MAX_LINKS_PER_DOCUMENT = 8
_HOW = re.compile(r"\bhow\s+\w+", re.IGNORECASE)
_LABEL = re.compile(r"^\s*[-*]?\s*[A-Z][A-Za-z ]{0,24}:\s*")
# Question-answer pairs are stored as the question prompt of `compare` followed by the answer,
# so the adapter learns the very format it is questioned in.
QUESTION_PROMPT_TEMPLATE = "eval_question"
# Rows of question-answer pairs asked about a kept join (global asks augment_question about it).
JOIN_QUESTION_LABEL = "augment_global:question"
# Sampling temperature of the second try at a sentence greedy decoding kept nothing of (--resample):
# varied enough that the samples differ, low enough that a small model stays on its sentence.
RESAMPLE_TEMPERATURE = 0.7
# Outputs written by rule, without a prompt: records restated, implications composed.
RULE_OUTPUTS = ("record", "closure", "comparison")


@cache
def _question_prompt() -> PromptTemplate:
    return load_template(QUESTION_PROMPT_TEMPLATE)


@dataclass
class Unit:
    """One prompt of an item, with the sources its statements are traced to."""

    prompt: str
    source_text: str
    sentence_ids: list[str]
    document_ids: list[str]
    sources: list[str] = field(default_factory=list)  # the sentences verification shows; default [source_text]


@dataclass
class Item:
    """One unit of augmentation work, not yet done: a sentence × template, or a document."""

    key: str
    strategy: str
    template: PromptTemplate
    sentence_ids: list[str]
    document_ids: list[str]
    corpus_hash: str | None = None
    source_text: str = ""
    prefix: str = ""
    units: list[Unit] = field(default_factory=list)
    picked: ListGroup | Chain | Implication | None = None  # what a rule picked or wrote for a list, chain or closure item
    inputs: dict = field(default_factory=dict)  # its fingerprint (lineage.item_inputs); key = sha(inputs)


@dataclass
class StrategySummary:
    planned: int = 0  # items the corpus calls for
    done: int = 0  # finished in this run
    skipped: int = 0  # already finished by an earlier run
    stale_removed: int = 0  # their sources changed: removed, and redone
    superseded_removed: int = 0  # made with other templates, model or settings: removed
    left_by_limit: int = 0
    windows: int = 0  # global: corpus windows (1 when the corpus fits the context)
    kept: Counter = field(default_factory=Counter)  # per template
    dropped: Counter = field(default_factory=Counter)  # per "template:reason"
    usage: Usage = field(default_factory=Usage)
    examples_total: int = 0  # stored after the run
    export: str | None = None

    def as_dict(self) -> dict:
        return {
            "items": {
                "planned": self.planned,
                "done": self.done,
                "skipped": self.skipped,
                "stale_removed": self.stale_removed,
                "superseded_removed": self.superseded_removed,
                "left_by_limit": self.left_by_limit,
            },
            "windows": self.windows,
            "kept": dict(sorted(self.kept.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "tokens": {
                "prompt": self.usage.prompt_tokens,
                "cached": self.usage.cached_tokens,
                "generated": self.usage.generated_tokens,
            },
            "seconds": round(self.usage.seconds, 2),
            "examples_total": self.examples_total,
            "export": self.export,
        }


@dataclass
class DryRunPrompt:
    strategy: str
    template: str
    source_ids: list[str]
    prefix: str
    prompt: str
    prefix_tokens: int
    prompt_tokens: int


@dataclass
class Coverage:
    """The yield of augmentation: the sentences that state a fact about named entities, and which of
    them have at least one kept example (of any strategy or template)."""

    named: list[str]  # sentence ids
    uncovered: list[str]  # of those, the ones with no kept example

    @property
    def covered(self) -> int:
        return len(self.named) - len(self.uncovered)

    def as_dict(self) -> dict:
        return {"named_sentences": len(self.named), "with_example": self.covered,
                "share": round(self.covered / len(self.named), 3) if self.named else None, "uncovered": self.uncovered}

    def describe(self) -> str:
        share = f" ({self.covered / len(self.named):.0%})" if self.named else ""
        return f"Yield: {self.covered} of the {len(self.named)} sentences that name an entity have a kept example{share}."


def coverage(sentences: Sequence[Sentence], store: Store, vocabulary: CorpusVocabulary) -> Coverage:
    """Which of the corpus's sentences naming an entity (CorpusVocabulary.entity_names) have a kept example."""
    named = [s.id for s in sentences if vocabulary.entity_names(s.text)]
    sourced = {i for row in store.examples() for i in json.loads(row["source_sentence_ids"])}
    return Coverage(named, [i for i in named if i not in sourced])


@dataclass
class AugmentSummary:
    model: str
    dry_run: bool
    strategies: dict[str, StrategySummary] = field(default_factory=dict)
    prompts: list[DryRunPrompt] = field(default_factory=list)
    seconds: float = 0.0
    coverage: Coverage | None = None  # after every run but a dry run

    def as_dict(self) -> dict:
        data = {
            "model": self.model,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 2),
            "strategies": {name: s.as_dict() for name, s in self.strategies.items()},
            "exports": {name: s.export for name, s in self.strategies.items() if s.export},
        }
        if self.coverage:
            data["coverage"] = self.coverage.as_dict()
        if self.dry_run:
            data["prompts"] = [p.__dict__ for p in self.prompts]
        return data


def augment(
    ws: Workspace, config: AugmentConfig, reporter: Reporter = NullReporter(), model: Model | None = None
) -> AugmentSummary:
    """Have the model write rephrasings, reversals and inferences of the corpus; store and export them.

    Args:
        ws: the workspace (documents must be ingested).
        config: strategy, model, limit, sampling, batch size, dry run.
        reporter: progress of items, with tokens/s.
        model: an already loaded model; None loads `config.model`.
    """
    ws.require_documents()
    start = time.perf_counter()
    store = ws.store
    sentences = store.sentences()
    documents = store.documents()
    vocabulary = CorpusVocabulary(s.text for s in sentences)
    # A loaded model is known by its name; a spec by its weights' fingerprint (lineage).
    model_id = model.info.name if model is not None else model_fingerprint(config.model)
    loaded = _ModelOnDemand(model, config, reporter)
    summary = AugmentSummary(model=model_id.split("@")[0], dry_run=config.dry_run)
    run_id = None if config.dry_run else store.start_run("augment", to_dict(config))
    try:
        for strategy in config.strategies:
            if strategy == "local":
                greedy = _plan_greedy(store, config, model_id)
                items = greedy + _plan_resample(store, config, model_id, greedy, vocabulary)
            else:
                items = _plan_global(store, documents, config, model_id) + _plan_picked(store, vocabulary, config, model_id)
            result = _reconcile(store, strategy, items, config)
            summary.strategies[strategy] = result.summary
            r = result.summary
            reporter.log(
                f"augment {strategy}: {r.planned} items, {r.skipped} already done, {r.stale_removed} stale and "
                f"{r.superseded_removed} superseded removed, {len(result.pending)} to do"
            )
            if not result.pending:
                continue
            if strategy == "local":
                _prepare_local(result.pending, loaded.get())
            else:
                joins = [i for i in result.pending if i.template.name == GLOBAL_TEMPLATE]
                result.summary.windows = _prepare_global(joins, store, vocabulary, loaded.get(), reporter) if joins else 0
                _prepare_picked([i for i in result.pending if i.picked is not None], loaded.get())
            if config.dry_run:
                summary.prompts += _dry_run_prompts(result.pending, loaded.get())
                continue
            judge = _Judge(store, strategy)
            _run(store, result.pending, loaded.get(), config, judge, result.summary, reporter)
            if strategy == "local":
                _resample(store, config, model_id, greedy, loaded.get(), judge, result.summary, reporter)
        if not config.dry_run:
            for strategy, s in summary.strategies.items():
                s.examples_total, s.export = export_examples(ws, strategy)
            summary.coverage = coverage(sentences, store, vocabulary)
    except BaseException as e:
        if run_id is not None:
            status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
            store.finish_run(run_id, status, summary.as_dict())
        raise
    finally:
        reporter.finish()
    if loaded.model is not None:
        summary.model = loaded.model.info.name
    summary.seconds = time.perf_counter() - start
    if run_id is not None:
        store.finish_run(run_id, "done", summary.as_dict())
    return summary


class _ModelOnDemand:
    """Loads the model only when some item is left to do: a finished rerun costs no load."""

    def __init__(self, model: Model | None, config: AugmentConfig, reporter: Reporter):
        self.model, self.config, self.reporter = model, config, reporter

    def get(self) -> Model:
        if self.model is None:
            from .models import load_model

            m = self.config.model
            self.model = load_model(m.model, quantize=m.quantize, device=m.device, reporter=self.reporter,
                                    concurrency=m.concurrency)
        return self.model


# -- planning -------------------------------------------------------------------------


def _settings(config: AugmentConfig, template: PromptTemplate) -> dict:
    settings = {
        "temperature": config.temperature,
        "samples": config.samples,
        "max_new_tokens": template.max_new_tokens,
        "quantize": config.model.quantize,
        # What verification used: its prompt and margin (None: off).
        "verify": [template_fingerprint(load_template(VERIFY_TEMPLATE)), config.verify_margin] if config.verify else None,
    }
    if template.name == GLOBAL_TEMPLATE:
        settings["join_questions"] = template_fingerprint(load_template(QUESTION_TEMPLATE))
    return settings


def _item(strategy: str, template: PromptTemplate, sentence_ids: list[str], document_ids: list[str],
          corpus_hash: str | None, model_id: str, config: AugmentConfig, **fields) -> Item:
    inputs = item_inputs(strategy, template, document_ids, sentence_ids, corpus_hash, model_id,
                         _settings(config, template), config.seed)
    return Item(sha(inputs), strategy, template, sentence_ids, document_ids, corpus_hash, inputs=inputs, **fields)


def _plan_greedy(store: Store, config: AugmentConfig, model_id: str) -> list[Item]:
    """Every sentence × local template, a record (table row, form) × the record rule (the
    resampled items follow from their outcome: _plan_resample)."""
    templates = {name: load_template(name) for name in LOCAL_TEMPLATES + (COMPARISON_TEMPLATE, RECORD_TEMPLATE)}
    items = []
    # Sentence-major order, so --limit N covers every template for the first sentences.
    # Fragments (a heading, a stray symbol) state no fact worth restating.
    for s in (s for s in store.sentences() if len(words(s.text)) >= MIN_WORDS):
        if record_fields(s.text):
            items.append(_item("local", templates[RECORD_TEMPLATE], [s.id], [s.document_id], None, model_id, config,
                               source_text=s.text))
            continue
        reverse = COMPARISON_TEMPLATE if _COMPARISON.search(s.text) else "augment_reverse"
        for t in (templates[reverse if name == "augment_reverse" else name] for name in LOCAL_TEMPLATES):
            items.append(_item("local", t, [s.id], [s.document_id], None, model_id, config, source_text=s.text))
    return items


def _plan_resample(store: Store, config: AugmentConfig, model_id: str, greedy: list[Item],
                   vocabulary: CorpusVocabulary) -> list[Item]:
    """A sampled question-answer item for each sentence that names something and of which every
    local item is done with nothing kept: greedy decoding gives one candidate a template, and
    most are dropped (copies, answers that repeat the question, unverified), while the model
    judges better than it writes, so several samples judged give it a second chance."""
    if not config.resample:
        return []
    kept = {row["key"]: row["n_kept"] for row in store.augment_items("local")}
    by_sentence: dict[str, list[Item]] = defaultdict(list)
    for item in greedy:
        by_sentence[item.sentence_ids[0]].append(item)
    sampled = replace(config, samples=config.resample, temperature=RESAMPLE_TEMPERATURE)
    template = load_template(QUESTION_TEMPLATE)
    items = []
    for sentence_items in by_sentence.values():
        first = sentence_items[0]
        if (first.template.name != RECORD_TEMPLATE and all(kept.get(i.key) == 0 for i in sentence_items)
                and vocabulary.names(first.source_text)):
            items.append(_item("local", template, first.sentence_ids, first.document_ids, None, model_id, sampled,
                               source_text=first.source_text))
    return items


def _resample(store: Store, config: AugmentConfig, model_id: str, greedy: list[Item], model: Model, judge: _Judge,
              summary: StrategySummary, reporter: Reporter) -> None:
    """Run the resampled items that the finished greedy items now call for (_plan_resample)."""
    done = store.done_item_keys()
    items = [i for i in _plan_resample(store, config, model_id, greedy, judge.vocabulary) if i.key not in done]
    if not items:
        return
    summary.planned += len(items)
    reporter.log(f"augment local: {len(items)} sentences kept nothing; sampling {config.resample} question-answer "
                 f"pairs for each at temperature {RESAMPLE_TEMPERATURE}")
    _prepare_local(items, model)
    _run(store, items, model, config, judge, summary, reporter)


def _plan_global(store: Store, documents, config: AugmentConfig, model_id: str) -> list[Item]:
    template = load_template(GLOBAL_TEMPLATE)
    chash = store.corpus_hash()
    return [_item("global", template, [], [d.id], chash, model_id, config) for d in documents]


def _plan_picked(store: Store, vocabulary: CorpusVocabulary, config: AugmentConfig, model_id: str) -> list[Item]:
    """One item per implication written by rule (augment_closure.py, lists among them), per list
    group the rule could not write (augment_lists.py: worded by rule in one member's frame where it
    can be, else by the model, and verified) and per chain of two facts the rule could not compose
    (augment_chains.py), all from the whole corpus, so the items go stale with it."""
    index = corpus_index(store, vocabulary)
    document_of = {s.id: s.document_id for s in store.sentences()}
    chash = store.corpus_hash()
    templates = {name: load_template(name) for name in (LIST_TEMPLATE, CHAIN_TEMPLATE, CLOSURE_TEMPLATE)}
    groups = augment_lists.list_groups(index)
    implications = augment_closure.implications(index, vocabulary, templates[CLOSURE_TEMPLATE], groups)
    composed = {frozenset(i.sentence_ids[k : k + 2]) for i in implications for k in range(len(i.sentence_ids) - 1)}
    listed = [i.group for i in implications if i.group]
    left = augment_closure.worded_lists(index, vocabulary, templates[CLOSURE_TEMPLATE],
                                        [g for g in groups if not any(g is w for w in listed)])
    picks = [(LIST_TEMPLATE, g, [f for f in g.facts]) for g in left]
    picks += [(CLOSURE_TEMPLATE, i, i.facts) for i in implications]
    picks += [(CHAIN_TEMPLATE, c, [c.first, c.second]) for c in augment_chains.chains(index)
              if frozenset((c.first.sentence_id, c.second.sentence_id)) not in composed]
    items = {}
    for name, picked, facts in picks:
        ids = list(dict.fromkeys(f.sentence_id for f in facts))
        documents = list(dict.fromkeys(document_of[i] for i in ids))
        # A closure item's text is its implication (what _read keeps); others' are their facts.
        text = picked.text if name == CLOSURE_TEMPLATE else " ".join(picked.sources)
        item = _item("global", templates[name], ids, documents, chash, model_id, config, picked=picked, source_text=text)
        items.setdefault(item.key, item)  # the same facts in the same order compose once
    return list(items.values())


@dataclass
class _Reconciled:
    pending: list[Item]
    summary: StrategySummary


def _reconcile(store: Store, strategy: str, items: list[Item], config: AugmentConfig) -> _Reconciled:
    """Remove stale and superseded items (unless a dry run), and pick what is left to do."""
    summary = StrategySummary(planned=len(items))
    planned = {i.key for i in items}
    state = CorpusState(store)
    stale, superseded = [], []
    for row in store.augment_items(strategy):
        if row["key"] in planned:
            continue
        (superseded if item_currency(row, state).current else stale).append(row["key"])
    summary.stale_removed, summary.superseded_removed = len(stale), len(superseded)
    if not config.dry_run:
        store.delete_items(stale + superseded)
    done = store.done_item_keys()
    pending = [i for i in items if i.key not in done]
    summary.skipped = len(items) - len(pending)
    if config.limit is not None and len(pending) > config.limit:
        summary.left_by_limit = len(pending) - config.limit
        pending = pending[: config.limit]
    return _Reconciled(pending, summary)


def _shared_head(template: PromptTemplate, model: Model, **values: str) -> str:
    """The part of the rendered template before the first line that varies: the shared prefix.

    It ends at a line break, so splitting it off does not cut a word's tokens in two.
    """
    rendered = template.render(model, **values)
    cut = rendered.rfind("\n", 0, rendered.find(_SENTINEL)) + 1
    return rendered[:cut]


def _split(template: PromptTemplate, model: Model, head: str, **values: str) -> tuple[str, str]:
    full = template.render(model, **values)
    if full.startswith(head):
        return head, full[len(head):]
    return "", full


def _prepare_local(items: list[Item], model: Model) -> None:
    heads = {}
    for item in items:
        t = item.template
        if t.output in ("record", "comparison"):  # written by rule: no prompt
            item.units = [Unit("", item.source_text, item.sentence_ids, item.document_ids)]
            continue
        if t.name not in heads:
            heads[t.name] = _shared_head(t, model, sentence=_SENTINEL)
        item.prefix, prompt = _split(t, model, heads[t.name], sentence=item.source_text)
        item.units = [Unit(prompt, item.source_text, item.sentence_ids, item.document_ids)]


def _worded(item: Item) -> str | None:
    """A list item's wording by rule, which verification judges in place of the model's."""
    return getattr(item.picked, "wording", None)


def _prepare_picked(items: list[Item], model: Model) -> None:
    """Prompts of list and chain items: their template's worked examples are the shared prefix."""
    values = {LIST_TEMPLATE: augment_lists.prompt_values, CHAIN_TEMPLATE: augment_chains.prompt_values}
    heads = {}
    for item in items:
        t = item.template
        if t.output == "closure" or _worded(item):  # written by rule: no prompt
            item.units = [Unit("", item.source_text, item.sentence_ids, item.document_ids, item.picked.sources)]
            continue
        filled = values[t.name](item.picked)
        if t.name not in heads:
            heads[t.name] = _shared_head(t, model, **{k: _SENTINEL for k in filled})
        item.prefix, prompt = _split(t, model, heads[t.name], **filled)
        item.units = [Unit(prompt, item.source_text, item.sentence_ids, item.document_ids, item.picked.sources)]


def _document_block(doc_template: PromptTemplate, doc) -> str:
    return doc_template.render(title=doc.relpath, text=doc.text)


def _prepare_global(items: list[Item], store: Store, vocabulary: CorpusVocabulary, model: Model,
                    reporter: Reporter) -> int:
    """Give each global item its corpus prefix and its prompts; returns the number of windows.

    The prefix is the corpus (its window) and the worked examples. Each prompt pairs one fact
    of the item's document with a linked fact of another document, for the model to join.
    """
    template = load_template(GLOBAL_TEMPLATE)
    doc_template = load_template(GLOBAL_DOCUMENT_TEMPLATE)
    documents = store.documents()
    blocks = {d.id: _document_block(doc_template, d) for d in documents}
    bare_head = _shared_head(template, model, corpus="", fact=_SENTINEL, linked=_SENTINEL)
    sentences = store.sentences()
    longest = max((s.text for s in sentences), key=len)
    prompt_tokens = model.count_tokens(_split(template, model, bare_head, corpus="", fact=longest, linked=longest)[1])
    budget = model.info.context_length - template.max_new_tokens - prompt_tokens - model.count_tokens(bare_head)
    sizes = {d.id: model.count_tokens(blocks[d.id]) for d in documents}
    windows = corpus_windows(documents, sizes, budget, vocabulary)
    if len(windows) > 1:
        reporter.log(
            f"The corpus ({sum(sizes.values())} tokens) does not fit the model's context ({model.info.context_length}): "
            f"{len(windows)} windows of documents that share names, each used as the corpus."
        )
    window_of = {doc_id: w for w in windows for doc_id in w}
    for item in items:
        window = window_of[item.document_ids[0]]
        corpus = "".join(blocks[d] for d in window)
        item.prefix = _shared_head(template, model, corpus=corpus, fact=_SENTINEL, linked=_SENTINEL)
        in_window = [s for s in sentences if s.document_id in window]
        for fact, linked in linked_facts(item.document_ids[0], in_window, vocabulary):
            _, prompt = _split(template, model, item.prefix, corpus=corpus, fact=fact.text, linked=linked.text)
            item.units.append(Unit(prompt, f"{fact.text} {linked.text}", [fact.id, linked.id],
                                   [fact.document_id, linked.document_id], [fact.text, linked.text]))
    return len(windows)


def linked_facts(document_id: str, sentences, vocabulary: CorpusVocabulary, limit: int = MAX_LINKS_PER_DOCUMENT):
    """Pairs (a sentence of the document, a sentence of another document) that can be joined.

    Two sentences are linked when they share a name (a chain: "X is owned by T" + "T works in O";
    a category: "X is a C" + "every C is a D"), or say the same thing of different names (an
    aggregation: "X is used for billing" + "Y is used for billing").

    Args:
        document_id: the document whose facts are joined with the rest.
        sentences: the corpus sentences in reach (the document's window).
        vocabulary: tells names from ordinary words.
        limit: the most pairs per document, the strongest links first.
    """
    names = {s.id: vocabulary.names(s.text) for s in sentences}
    frames = {s.id: _frame(s.text, names[s.id]) for s in sentences}
    own = [s for s in sentences if s.document_id == document_id and names[s.id]]
    others = [s for s in sentences if s.document_id != document_id and names[s.id]]
    pairs = []
    for fact in own:
        for other in others:
            shared = len(names[fact.id] & names[other.id])
            if shared or frames[fact.id] == frames[other.id]:
                pairs.append((-shared, fact.id, other.id, fact, other))
    return [(fact, other) for *_, fact, other in sorted(pairs, key=lambda p: p[:3])[:limit]]


def _frame(text: str, names: set[str]) -> str:
    """What a sentence says with its names blanked out ("_ is used for billing")."""
    return " ".join("_" if w in names else w.lower() for w in words(text))


def corpus_windows(documents, sizes: dict[str, int], budget: int, vocabulary: CorpusVocabulary) -> list[list[str]]:
    """Group documents into windows of at most `budget` tokens, documents sharing names together.

    Args:
        documents: the corpus documents (with .id and .text), in corpus order.
        sizes: tokens of each document's block, by id.
        budget: tokens a window may hold.
        vocabulary: tells names from ordinary words.
    """
    ids = [d.id for d in documents]
    if sum(sizes[i] for i in ids) <= budget:
        return [ids]
    names = {d.id: vocabulary.names(d.text) for d in documents}
    left, windows = list(ids), []
    while left:
        window = [left.pop(0)]
        used, window_names = sizes[window[0]], set(names[window[0]])
        while True:
            fitting = [i for i in left if used + sizes[i] <= budget]
            if not fitting:
                break
            best = max(fitting, key=lambda i: (len(names[i] & window_names), -left.index(i)))
            window.append(best)
            left.remove(best)
            used += sizes[best]
            window_names |= names[best]
        windows.append(window)
    return windows


# -- running --------------------------------------------------------------------------


def _dry_run_prompts(items: list[Item], model: Model) -> list[DryRunPrompt]:
    counted: dict[str, int] = {}
    prompts = []
    for item in (i for i in items if i.template.output not in RULE_OUTPUTS):
        if item.prefix not in counted:
            counted[item.prefix] = model.count_tokens(item.prefix) if item.prefix else 0
        for unit in item.units:
            prompts.append(
                DryRunPrompt(item.strategy, item.template.name, unit.sentence_ids, item.prefix, unit.prompt,
                             counted[item.prefix], model.count_tokens(unit.prompt))
            )
    return prompts


def worked_examples(template: PromptTemplate) -> list[str]:
    """The template's own example statements (lines without placeholders, labels removed)."""
    return [_LABEL.sub("", line).strip() for line in template.text.splitlines() if "$" not in line and line.strip()]


def _run(store: Store, items: list[Item], model: Model, config: AugmentConfig, judge: _Judge,
         summary: StrategySummary, reporter: Reporter) -> None:
    # Items of one template, prefix and sampling are generated together (a resampled item samples
    # more than the greedy items of its template).
    groups: dict[tuple, list[Item]] = defaultdict(list)
    for item in items:
        sampling = (item.inputs["settings"]["samples"], item.inputs["settings"]["temperature"])
        groups[(item.template.name, item.prefix, sampling)].append(item)
    examples_of = {key[0]: WorkedExamples(worked_examples(g[0].template), judge.vocabulary) for key, g in groups.items()}
    examples_of[QUESTION_TEMPLATE] = WorkedExamples(worked_examples(load_template(QUESTION_TEMPLATE)), judge.vocabulary)
    reporter.start(f"augment {items[0].strategy}", len(items))
    started = time.perf_counter()
    for (name, prefix, (samples, temperature)), group in groups.items():
        template = group[0].template
        config = replace(config, samples=samples, temperature=temperature)
        for chunk in _chunks(group, config.batch_size, config.samples):
            # Written by rule: nothing to generate (_read takes the rule's text). Worded lists have
            # no prefix, so they never share a chunk with the model's.
            by_rule = template.output in RULE_OUTPUTS or all(_worded(i) for i in chunk)
            prompts = [u.prompt for item in chunk for u in item.units if not by_rule]
            outputs, usage = _generate(model, template, prefix, prompts, config) if prompts else ([], Usage())
            if by_rule:
                outputs = [""] * sum(len(item.units) for item in chunk) * config.samples
            written: list[list[Written]] = []
            dropped: list[Counter] = []
            at = 0
            for item in chunk:
                n = len(item.units) * config.samples
                kept, lost = _read(item, outputs[at : at + n], config, judge, examples_of[name])
                written.append(kept)
                dropped.append(lost)
                at += n
            if config.verify:
                usage = usage + _verify(written, dropped, model, config, judge)
            if template.name == LIST_TEMPLATE and config.verify:
                _drop_lists_with_unverified_members(written, dropped)
            if template.name == GLOBAL_TEMPLATE:
                usage = usage + _ask_about_joins(written, dropped, model, config, judge, examples_of[QUESTION_TEMPLATE])
                if config.verify:
                    usage = usage + _verify(written, dropped, model, config, judge)
            summary.usage = summary.usage + usage
            shares = _split_usage(usage, [len(item.units) for item in chunk])
            for item, kept, lost, share in zip(chunk, written, dropped, shares):
                _save(store, item, [w for w in kept if w.verdict is None or w.verdict.ok], lost, model, config, share, summary)
                rate = summary.usage.generated_tokens / max(time.perf_counter() - started, 1e-9)
                reporter.advance(1, f"{rate:.0f} tok/s")


@dataclass
class Written:
    """One text the model wrote that passed the filters, waiting for verification.

    Args:
        template: what wrote it (the row's `template`).
        text: the training text (a question-answer pair already in the question prompt's form).
        check: the claim verification scores, with its sources and corruptions.
        unit: the prompt it came from (for its source ids).
        verdict: set by verification; None when verification is off.
    """

    template: str
    text: str
    check: Check
    unit: Unit
    verdict: Verdict | None = None


class _Judge:
    """What the filters and verification need to know of the corpus."""

    def __init__(self, store: Store, strategy: str):
        sentences = store.sentences()
        self.vocabulary = CorpusVocabulary(s.text for s in sentences)
        self.filter = StatementFilter(self.vocabulary, (s.text for s in sentences), single_source=strategy == "local")
        for row in store.examples(strategy):
            self.filter.remember(row["text"])
        self.index = corpus_index(store, self.vocabulary)
        self.record_owners = value_owners(fields for s in sentences if (fields := record_fields(s.text)))
        self.fact_of = {f.sentence_id: f for f in self.index.facts}
        self.comparisons = Comparisons(self.index.facts, self.vocabulary)
        self.fixed_groups = [g for g in augment_lists.list_groups(self.index) if g.fixed]

    def answers_part_of_a_list(self, question: str, answer: str) -> bool:
        """Whether the corpus gives the question more answers than the one given: the question names
        a list group's fixed name (its first word: "Voluvant" for "the Voluvant Foundation") and the
        answer some of its members, not all ("Which project is funded by the Voluvant Foundation?
        Drobbelin." where Vessapine receives its money from it too). A group is of names related to
        one name however each sentence words it (augment_lists.list_groups): a question of another
        relation to the same name may be dropped too, which costs an example, not a wrong one."""
        asked = self.vocabulary.names(question)
        for group in self.fixed_groups:
            if group.fixed.split()[0] in asked:
                named = len(set(group.names) & names_in(answer, self.vocabulary))
                if 0 < named < len(group.names):
                    return True
        return False

    def kin(self, name: str) -> list[str]:
        """Other names of `name`'s kind in the corpus (same slot somewhere), most alike slot first."""
        found = []
        for slot in self.index.slots_of_name.get(name, ()):
            found += [n for n in self.index.pools.get(slot, []) if n != name and n not in found]
        return found

    def join_reason(self, claim: str, sources: list[str]) -> str | None:
        """Why a text written from two facts is no join of them, or None: it drops a link it
        needs (augment_filters.lost_link), or says what neither fact says (a join composes its
        facts and adds nothing: "The Korbulo team is tested every two weeks" from where it works
        and which tool it owns)."""
        if len(sources) < 2:
            return None
        if lost_link(claim, sources, self.vocabulary):
            return "lost_link"
        asked = _HOW.sub("", claim)  # "How often ...? Twice a month.": "often" asks, it says nothing
        return None if restates(asked, sources) else "words_not_in_sources"

    def check(self, claim: str, sources: list[str]) -> Check:
        return Check(claim, sources, swap_corruptions(claim, sources, self.vocabulary, self.kin))

    def check_pair(self, question: str, answer: str, sources: list[str]) -> Check:
        """A question-answer pair is wrong when its answer is: only the answer's names are moved
        (exchanging the question's name with the answer's only makes a question of another kind)."""
        wrong = swap_corruptions(answer, sources, self.vocabulary, self.kin)
        return Check(f"{question} {answer}", sources, [f"{question} {w}" for w in wrong])

    def checkable(self, check: Check) -> bool:
        """Whether some corruption moves the sources' own names (see verify.swap_corruptions)."""
        return bool(swap_corruptions(check.candidate, check.sources, self.vocabulary, kin=None))


def corpus_index(store: Store, vocabulary: CorpusVocabulary) -> FactIndex:
    sources = {d.id: d.relpath for d in store.documents()}
    return FactIndex(read_facts(store.sentences(), sources, vocabulary))


def _generate(model: Model, template: PromptTemplate, prefix: str, prompts: list[str], config: AugmentConfig):
    prompts = [p for p in prompts for _ in range(config.samples)]
    if not prompts:
        return [], Usage()
    return model.generate(prompts, prefix=prefix, max_new_tokens=template.max_new_tokens, temperature=config.temperature,
                          seed=config.seed, stop=template.stop, batch_size=config.batch_size)


def _read(item: Item, outputs: list[str], config: AugmentConfig, judge: _Judge,
          examples: WorkedExamples) -> tuple[list[Written], Counter]:
    """What passes the filters of the item's outputs, with the check verification will give it."""
    written, dropped = [], Counter()
    name = item.template.name
    for i, unit in enumerate(item.units):
        texts = outputs[i * config.samples : (i + 1) * config.samples]
        sources = unit.sources or [unit.source_text]
        if item.template.output in ("list", "chain"):
            for text in [_worded(item)] if _worded(item) else texts:
                if item.template.output == "list":
                    read = read_list_output(text, item.picked, judge.index, judge.vocabulary)
                else:
                    read = read_chain_output(text, item.picked, judge.vocabulary, judge.kin)
                dropped.update(read.dropped)
                for w in read.writings:
                    claim = statement_order(w.question, w.text) if w.question else w.text
                    reason = judge.filter.sense_reason(claim, " ".join(sources)) or judge.join_reason(claim, sources)
                    if reason:
                        dropped[f"{name}:{w.kind}:{reason}"] += 1
                        continue
                    text = _pair_text(w.question, w.text) if w.question else w.text
                    written.append(Written(f"{name}:{w.kind}", text, w.check, unit))
        elif item.template.output == "closure":
            by_rule = Verdict(True, "composed by rule from its facts", 0.0, 0.0)
            written.append(Written(f"{name}:statement", unit.source_text, Check(unit.source_text, sources, []), unit, by_rule))
            for question, answer in item.picked.questions:
                text = _pair_text(question, answer)
                written.append(Written(f"{name}:question", text, Check(text, sources, []), unit, by_rule))
        elif item.template.output == "comparison":
            fact = judge.fact_of.get(unit.sentence_ids[0])
            writings = judge.comparisons.writings(fact, item.template) if fact else []
            if not writings:
                dropped["not_a_comparison_the_rule_reads"] += 1
            for kind, question, text in writings:
                text = _pair_text(question, text) if question else text
                written.append(Written(f"{name}:{kind}", text, Check(text, sources, []), unit,
                                       Verdict(True, "turned around by rule", 0.0, 0.0)))
        elif item.template.output == "record":
            for kind, question, text in record_writings(record_fields(unit.source_text), item.template, judge.record_owners,
                                                     judge.vocabulary):
                text = _pair_text(question, text) if question else text
                written.append(Written(f"{name}:{kind}", text, Check(text, sources, []), unit,
                                       Verdict(True, "written by rule from the record", 0.0, 0.0)))
        elif item.template.output == "question_answer":
            pairs, lost = _keep_question_answers(texts, unit.source_text, judge, examples)
            if config.temperature > 0:
                # Sampling invents words greedy decoding does not ("Who ruins the Tolvrik server?",
                # "Who built Lagle?" from its owner): a sampled pair may only restate its sentence.
                restating = [(q, a) for q, a in pairs if restates(statement_order(q, a), sources)]
                lost["sampled_words_not_in_source"] += len(pairs) - len(restating)
                pairs = restating
            dropped.update(lost)
            written += [Written(name, _pair_text(q, a), judge.check_pair(q, a, sources), unit) for q, a in pairs]
        else:
            kept, lost = judge.filter.keep([s for text in texts for s in split_statements(text)], unit.source_text, examples)
            dropped.update(lost)
            for text in kept:
                reason = judge.join_reason(text, sources)
                if reason:
                    dropped[reason] += 1
                else:
                    written.append(Written(name, text, judge.check(text, sources), unit))
    return written, dropped


def _ask_about_joins(written: list[list[Written]], dropped: list[Counter], model: Model, config: AugmentConfig,
                     judge: _Judge, examples: WorkedExamples) -> Usage:
    """Question-answer pairs asked from each side of every kept join, checked against the join's
    two facts: a model answers a question about a composed fact only if it saw it in question form."""
    template = load_template(QUESTION_TEMPLATE)
    head = _shared_head(template, model, sentence=_SENTINEL)
    joins = [(k, w) for k, kept in enumerate(written) for w in kept
             if w.template == GLOBAL_TEMPLATE and (w.verdict is None or w.verdict.ok)]
    prompts = [_split(template, model, head, sentence=w.text)[1] for _, w in joins]
    outputs, usage = _generate(model, template, head, prompts, config)
    for j, (k, join) in enumerate(joins):
        texts = outputs[j * config.samples : (j + 1) * config.samples]
        pairs, lost = _keep_question_answers(texts, join.text, judge, examples)
        for q, a in pairs:
            reason = judge.join_reason(statement_order(q, a), join.check.sources)
            if reason:
                lost[reason] += 1
            else:
                written[k].append(Written(JOIN_QUESTION_LABEL, _pair_text(q, a), judge.check_pair(q, a, join.check.sources),
                                          join.unit))
        dropped[k].update({f"{JOIN_QUESTION_LABEL}:{r}": n for r, n in lost.items()})
    return usage


def _verify(written: list[list[Written]], dropped: list[Counter], model: Model, config: AugmentConfig,
            judge: _Judge) -> Usage:
    """Judge every written text not judged yet (verify.py).

    A text whose corruptions move its sources' own names is scored with its sources in the
    prompt against them, calibrated: by what the sources add to each one's log-likelihood, so
    that a name the model finds likely anyway ("Korrimat started earlier than Filtarro" beat its
    own source's "Filtarro started earlier than Korrimat" by 1.3 nats uncalibrated) does not win.
    One that names fewer than two names of its sources can only beat names
    the sources never mention, which any text using the sources' names does: it is kept only if
    it restates its sources (every content word from them) and beats those corruptions. A text
    without a name to move has nothing to be verified against and is dropped: in a hand check of
    the demo's kept examples, 11 of the 18 wrong ones were of this kind ("The reports were sent to
    the ten.", "What is the password? Never."). Every drop has its reason.
    """
    todo = [(w, lost) for kept, lost in zip(written, dropped) for w in kept if w.verdict is None]
    for w, _ in todo:
        if not judge.checkable(w.check) and not restates(w.check.candidate, w.check.sources):
            w.verdict = Verdict(False, "names too few of its sources to move, and says more than they do", float("-inf"), 0.0)
    scored = [w for w, _ in todo if w.verdict is None and w.check.corruptions]
    verdicts, usage = verify_many(model, [w.check for w in scored], config.verify_margin, calibrate=True,
                                  batch_size=config.batch_size)
    for w, verdict in zip(scored, verdicts):
        w.verdict = verdict
    for w, lost in todo:
        if w.verdict is None:
            w.verdict = Verdict(False, "names nothing to move: nothing to verify it against", float("-inf"), 0.0)
        if not w.verdict.ok:
            lost[f"{w.template}:{'unverified' if w.verdict.corruption_scores else 'unverifiable'}"] += 1
    return usage


def _drop_lists_with_unverified_members(written: list[list[Written]], dropped: list[Counter]) -> None:
    """A list is only as right as its members: when the model does not confirm one member's
    statement, its list, count and list statement are dropped (the members it confirms stay).
    A count is the number of a list the model confirms whole, by rule: kept with it, since a small
    model's likelihood tells one number from another no better than chance."""
    for kept, lost in zip(written, dropped):
        if any(w.template.endswith(":member") and not w.verdict.ok for w in kept):
            for w in kept:
                if not w.template.endswith(":member") and w.verdict.ok:
                    w.verdict = Verdict(False, "a member's statement was not confirmed", w.verdict.margin, w.verdict.score)
                    lost[f"{w.template}:member_unverified"] += 1
        elif any(w.template.endswith(":question") and w.verdict.ok for w in kept):
            for w in kept:
                if w.template.endswith(":count") and not w.verdict.ok:
                    w.verdict = Verdict(True, "the number of a confirmed list", w.verdict.margin, w.verdict.score)
                    reason = f"{w.template}:unverified"
                    lost[reason] -= 1
                    if not lost[reason]:
                        del lost[reason]


def _chunks(items: list[Item], batch_size: int, samples: int) -> list[list[Item]]:
    """Consecutive items whose prompts together fill about one batch (an item is never split)."""
    chunks, current, size = [], [], 0
    for item in items:
        current.append(item)
        size += len(item.units) * samples
        if size >= batch_size:
            chunks.append(current)
            current, size = [], 0
    return chunks + ([current] if current else [])


def _split_usage(usage: Usage, weights: list[int]) -> list[Usage]:
    """Share one call's usage among its items, in proportion to their prompts."""
    total = sum(weights) or 1
    return [Usage(*(round(getattr(usage, f) * w / total) for f in ("prompt_tokens", "cached_tokens", "generated_tokens")),
                  usage.seconds * w / total, usage.flops * w / total) for w in weights]


def _pair_text(question: str, answer: str) -> str:
    """A question-answer pair as a training text: the question prompt of `compare`, then the answer."""
    return f"{_question_prompt().render(question=question)} {answer}"


def _keep_question_answers(outputs: list[str], source: str, judge: _Judge,
                           examples: WorkedExamples) -> tuple[list[tuple[str, str]], Counter]:
    """The pairs worth keeping, as (question, answer)."""
    pairs, dropped, filt = {}, Counter(), judge.filter
    for q, a in (pair for text in outputs for pair in split_question_answers(text)):
        reason = pair_reason_to_drop(q, a, source) or ("asks_too_little" if filt.asks_too_little(q) else None) \
            or ("several_answers" if judge.answers_part_of_a_list(q, a) else None)
        if reason is None:
            pairs[statement_order(q, a)] = (q, a)
        else:
            dropped[reason] += 1
    # A comparison can only be checked with both of its names in the pair ("Which tool is
    # faster? Yimbrot." may well be wrong); other pairs may ask about one part of the source.
    kept, kept_dropped = filt.keep(pairs, source, examples, covers_source=bool(_COMPARISON.search(source)))
    dropped.update(kept_dropped)
    if not pairs and not dropped:
        dropped["empty"] += len(outputs)
    return [pairs[k] for k in kept], dropped


def _save(store: Store, item: Item, kept: list[Written], dropped: Counter, model: Model, config: AugmentConfig,
          usage: Usage, summary: StrategySummary) -> None:
    settings = json.dumps(item.inputs["settings"], sort_keys=True)
    rows = [
        {
            "id": sha(item.key, w.text)[:32],
            "item_key": item.key,
            "strategy": item.strategy,
            "template": w.template,
            "text": w.text,
            "source_sentence_ids": json.dumps(w.unit.sentence_ids),
            "source_document_ids": json.dumps(sorted(set(w.unit.document_ids), key=w.unit.document_ids.index)),
            "model": model.info.name,
            "settings": settings,
            "seed": config.seed,
            "created_at": now(),
        }
        for w in {w.text: w for w in kept}.values()
    ]
    # A reason without its template's name is the template of the item.
    by_template = Counter({r if ":" in r else f"{item.template.name}:{r}": n for r, n in dropped.items()})
    store.save_item(
        {
            "key": item.key,
            "strategy": item.strategy,
            "template": item.template.name,
            "document_ids": json.dumps(item.document_ids),
            "sentence_ids": json.dumps(item.sentence_ids),
            "corpus_hash": item.corpus_hash,
            "inputs": json.dumps(item.inputs, sort_keys=True),
            "model": model.info.name,
            "n_kept": len(rows),
            "dropped": json.dumps(dict(by_template), sort_keys=True),
            "prompt_tokens": usage.prompt_tokens,
            "cached_tokens": usage.cached_tokens,
            "generated_tokens": usage.generated_tokens,
            "seconds": usage.seconds,
            "done_at": now(),
        },
        rows,
    )
    summary.done += 1
    summary.kept[item.template.name] += 0  # a template that kept nothing still shows
    summary.kept.update(r["template"] for r in rows)
    summary.dropped.update(by_template)


def export_examples(ws: Workspace, strategy: str) -> tuple[int, str]:
    """Write `<workspace>/exports/augmented-<strategy>.jsonl` from the store; returns (rows, path).

    Args:
        ws: the workspace.
        strategy: local or global.
    """
    path = ws.exports_dir / f"augmented-{strategy}.jsonl"
    rows = ws.store.examples(strategy)
    lines = []
    for r in rows:
        sentence_ids, document_ids = json.loads(r["source_sentence_ids"]), json.loads(r["source_document_ids"])
        record = {
            "text": r["text"],
            "strategy": r["strategy"],
            "template": r["template"],
            "source_ids": sentence_ids or document_ids,
            "source_document_ids": document_ids,
            "model": r["model"],
        }
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    atomic.write_text(path, "".join(lines))
    return len(rows), str(path)
