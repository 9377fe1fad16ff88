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
from dataclasses import dataclass, field
from functools import cache

from . import atomic
from .augment_filters import (
    MIN_WORDS,
    CorpusVocabulary,
    StatementFilter,
    WorkedExamples,
    answer_first,
    pair_reason_to_drop,
    split_question_answers,
    split_statements,
    words,
)
from .config import AugmentConfig, to_dict
from .lineage import CorpusState, item_currency, item_inputs, model_fingerprint, sha
from .models.base import Model, Usage
from .progress import NullReporter, Reporter
from .store import Store, now
from .templates import PromptTemplate, load_template
from .workspace import Workspace

LOCAL_TEMPLATES = ("augment_rephrase", "augment_reverse", "augment_infer", "augment_question")
# A comparison is reversed by its own template: among other examples, the small default model
# carries "older than" into sentences that compare nothing, and keeps "faster" when it should flip.
COMPARISON_TEMPLATE = "augment_reverse_comparison"
_COMPARISON = re.compile(r"\bthan\b", re.IGNORECASE)
GLOBAL_TEMPLATE = "augment_global"
# How one document is laid out inside the corpus block of the global prompt.
GLOBAL_DOCUMENT_TEMPLATE = "augment_global_document"
_SENTINEL = "\x00adaptdocs-sentinel\x00"
# Facts of one document joined with linked facts elsewhere: enough to cover a document's links
# with a small model in minutes.
MAX_LINKS_PER_DOCUMENT = 24
_LABEL = re.compile(r"^\s*[-*]?\s*[A-Z][A-Za-z ]{0,24}:\s*")
# Question-answer pairs are stored as the question prompt of `compare` followed by the answer,
# so the adapter learns the very format it is questioned in.
QUESTION_PROMPT_TEMPLATE = "eval_question"


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
    dropped: Counter = field(default_factory=Counter)  # per reason
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
class AugmentSummary:
    model: str
    dry_run: bool
    strategies: dict[str, StrategySummary] = field(default_factory=dict)
    prompts: list[DryRunPrompt] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        data = {
            "model": self.model,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 2),
            "strategies": {name: s.as_dict() for name, s in self.strategies.items()},
            "exports": {name: s.export for name, s in self.strategies.items() if s.export},
        }
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
                items = _plan_local(store, config, model_id)
            else:
                items = _plan_global(store, documents, config, model_id)
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
                result.summary.windows = _prepare_global(result.pending, store, vocabulary, loaded.get(), reporter)
            if config.dry_run:
                summary.prompts += _dry_run_prompts(result.pending, loaded.get())
                continue
            filt = StatementFilter(vocabulary, (s.text for s in sentences), single_source=strategy == "local")
            for row in store.examples(strategy):
                filt.remember(row["text"])
            _run(store, result.pending, loaded.get(), config, filt, vocabulary, result.summary, reporter)
        if not config.dry_run:
            for strategy, s in summary.strategies.items():
                s.examples_total, s.export = export_examples(ws, strategy)
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
    return {
        "temperature": config.temperature,
        "samples": config.samples,
        "max_new_tokens": template.max_new_tokens,
        "quantize": config.model.quantize,
    }


def _item(strategy: str, template: PromptTemplate, sentence_ids: list[str], document_ids: list[str],
          corpus_hash: str | None, model_id: str, config: AugmentConfig, **fields) -> Item:
    inputs = item_inputs(strategy, template, document_ids, sentence_ids, corpus_hash, model_id,
                         _settings(config, template), config.seed)
    return Item(sha(inputs), strategy, template, sentence_ids, document_ids, corpus_hash, inputs=inputs, **fields)


def _plan_local(store: Store, config: AugmentConfig, model_id: str) -> list[Item]:
    templates = {name: load_template(name) for name in LOCAL_TEMPLATES + (COMPARISON_TEMPLATE,)}
    items = []
    # Sentence-major order, so --limit N covers every template for the first sentences.
    # Fragments (a heading, a stray symbol) state no fact worth restating.
    for s in (s for s in store.sentences() if len(words(s.text)) >= MIN_WORDS):
        reverse = COMPARISON_TEMPLATE if _COMPARISON.search(s.text) else "augment_reverse"
        for t in (templates[reverse if name == "augment_reverse" else name] for name in LOCAL_TEMPLATES):
            items.append(_item("local", t, [s.id], [s.document_id], None, model_id, config, source_text=s.text))
    return items


def _plan_global(store: Store, documents, config: AugmentConfig, model_id: str) -> list[Item]:
    template = load_template(GLOBAL_TEMPLATE)
    chash = store.corpus_hash()
    return [_item("global", template, [], [d.id], chash, model_id, config) for d in documents]


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
        if t.name not in heads:
            heads[t.name] = _shared_head(t, model, sentence=_SENTINEL)
        item.prefix, prompt = _split(t, model, heads[t.name], sentence=item.source_text)
        item.units = [Unit(prompt, item.source_text, item.sentence_ids, item.document_ids)]


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
                                   [fact.document_id, linked.document_id]))
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
    for item in items:
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


def _run(store: Store, items: list[Item], model: Model, config: AugmentConfig, filt: StatementFilter,
         vocabulary: CorpusVocabulary, summary: StrategySummary, reporter: Reporter) -> None:
    groups: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for item in items:
        groups[(item.template.name, item.prefix)].append(item)
    examples_of = {name: WorkedExamples(worked_examples(g[0].template), vocabulary) for (name, _), g in groups.items()}
    reporter.start(f"augment {items[0].strategy}", len(items))
    started = time.perf_counter()
    for (name, prefix), group in groups.items():
        template = group[0].template
        for chunk in _chunks(group, config.batch_size, config.samples):
            prompts = [unit.prompt for item in chunk for unit in item.units for _ in range(config.samples)]
            outputs, usage = model.generate(
                prompts, prefix=prefix, max_new_tokens=template.max_new_tokens, temperature=config.temperature,
                seed=config.seed, stop=template.stop, batch_size=config.batch_size,
            ) if prompts else ([], Usage())
            summary.usage = summary.usage + usage
            shares = _split_usage(usage, [len(item.units) for item in chunk])
            at = 0
            for item, share in zip(chunk, shares):
                n = len(item.units) * config.samples
                _save(store, item, outputs[at : at + n], model, config, filt, examples_of[name], share, summary)
                at += n
                rate = summary.usage.generated_tokens / max(time.perf_counter() - started, 1e-9)
                reporter.advance(1, f"{rate:.0f} tok/s")


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


def _keep_question_answers(outputs: list[str], source: str, filt: StatementFilter,
                           examples: WorkedExamples) -> tuple[list[str], Counter]:
    """The pairs worth keeping, as training texts in the question prompt's format."""
    pairs, dropped = {}, Counter()
    for q, a in (pair for text in outputs for pair in split_question_answers(text)):
        reason = pair_reason_to_drop(q, a, source)
        if reason is None:
            pairs[answer_first(q, a)] = (q, a)
        else:
            dropped[reason] += 1
    # A comparison can only be checked with both of its names in the pair ("Which tool is
    # faster? Yimbrot." may well be wrong); other pairs may ask about one part of the source.
    kept, kept_dropped = filt.keep(pairs, source, examples, covers_source=bool(_COMPARISON.search(source)))
    dropped.update(kept_dropped)
    if not pairs and not dropped:
        dropped["empty"] += len(outputs)
    return [f"{_question_prompt().render(question=pairs[k][0])} {pairs[k][1]}" for k in kept], dropped


def _save(store: Store, item: Item, texts: list[str], model: Model, config: AugmentConfig, filt: StatementFilter,
          examples: WorkedExamples, usage: Usage, summary: StrategySummary) -> None:
    settings = json.dumps(item.inputs["settings"], sort_keys=True)
    rows, dropped = [], Counter()
    for i, unit in enumerate(item.units):
        outputs = texts[i * config.samples : (i + 1) * config.samples]
        if item.template.output == "question_answer":
            kept, unit_dropped = _keep_question_answers(outputs, unit.source_text, filt, examples)
        else:
            kept, unit_dropped = filt.keep([s for text in outputs for s in split_statements(text)], unit.source_text, examples)
        dropped.update(unit_dropped)
        rows += [
            {
                "id": sha(item.key, text)[:32],
                "item_key": item.key,
                "strategy": item.strategy,
                "template": item.template.name,
                "text": text,
                "source_sentence_ids": json.dumps(unit.sentence_ids),
                "source_document_ids": json.dumps(sorted(set(unit.document_ids), key=unit.document_ids.index)),
                "model": model.info.name,
                "settings": settings,
                "seed": config.seed,
                "created_at": now(),
            }
            for text in kept
        ]
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
            "dropped": json.dumps(dict(dropped), sort_keys=True),
            "prompt_tokens": usage.prompt_tokens,
            "cached_tokens": usage.cached_tokens,
            "generated_tokens": usage.generated_tokens,
            "seconds": usage.seconds,
            "done_at": now(),
        },
        rows,
    )
    summary.done += 1
    summary.kept[item.template.name] += len(rows)
    summary.dropped.update(dropped)


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
