"""What each artifact was made from, and whether it is still current: the one place that decides.

Every stage output records the fingerprint of its inputs (a dict: input name → hash or value).
An artifact is current when every judged input still has the value it recorded; otherwise it is
stale, and `Currency.changed` says which input moved. augment, train, compare and status all ask
here (docs/design.md, "Artifact graph"):

| artifact | recorded where | inputs judged |
|---|---|---|
| document rows | documents table | the file's content hash (the document id), size and mtime |
| augmentation item | augment_items.inputs | source documents, the corpus (global), the template file |
| training set | built on demand | the corpus sentences + examples of current items (hash over the rows) |
| adapter | adapters/<data>/adaptdocs.json `inputs` | training set hash, hyper-parameters, base model (spec + weights hash + precision) |
| report | reports/<stamp>/report.json `inputs` | the question file, the adapters' fingerprints |

An item also records the model that wrote it and its generation settings. Those are choices, not
sources: an item made by another model or with other settings is *superseded* (augment replaces it
when it runs with the new choice), but training on it stays valid until then.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .config import ModelConfig, TrainConfig
from .templates import PromptTemplate, load_template


def sha(*parts) -> str:
    """The sha256 of JSON-encodable parts (keys sorted): the one content hash of adaptdocs."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def file_sha(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes; computed once per (path, size, mtime) in a process."""
    stat = os.stat(path)
    return _file_sha(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@cache
def _file_sha(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def template_fingerprint(template: PromptTemplate) -> str:
    """`name@hash` of everything in a template file that changes what it produces."""
    t = template
    forms = [t.forms] if t.forms else []  # only rule templates have forms; the others' hashes stay
    return f"{t.name}@{sha(t.mode, t.text, t.system, t.stop, t.max_new_tokens, *forms)[:16]}"


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def model_fingerprint(model: ModelConfig) -> str:
    """`name@hash` of a model spec's weights and the precision it runs in (the device is runtime-only).

    The weights are hashed by content (once per file and process), so replacing a model directory's
    files in place is noticed. A spec that does not resolve is fingerprinted by its text alone.
    """
    from .models.loading import DEFAULT_NAME, default_gguf

    spec = model.model
    try:
        if spec is None:
            name, weights = DEFAULT_NAME, file_sha(default_gguf())
        else:
            path = Path(spec).expanduser()
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name == "config.json"))
                name, weights = path.resolve().name, sha([[str(p.relative_to(path)), file_sha(p)] for p in files])
            elif path.is_file():
                name, weights = path.stem, file_sha(path)
            else:
                name, weights = spec, sha(spec)
    except Exception:  # an uninstalled default or unreadable files: the loader will say what is wrong
        name, weights = spec or DEFAULT_NAME, sha(spec)
    return f"{name}@{sha(weights, model.quantize)[:16]}"


@dataclass
class Currency:
    """Whether an artifact is current, and if not, which of its inputs changed (in words)."""

    current: bool
    changed: list[str] = field(default_factory=list)

    @classmethod
    def judge(cls, changed: list[str]) -> Currency:
        return cls(not changed, changed)

    def as_dict(self) -> dict:
        return {"current": self.current, "changed": self.changed}


class CorpusState:
    """The current values of the inputs artifacts are judged against, read once per decision.

    Args:
        store: the workspace's Store.
    """

    def __init__(self, store):
        rows = list(store.db.query("select id, relpath from documents"))
        self.document_ids = {r["id"] for r in rows}
        self.relpaths = {r["id"]: r["relpath"] for r in rows}
        self.corpus_hash = store.corpus_hash()
        self._templates: dict[str, str | None] = {}

    def template(self, name: str) -> str | None:
        """The fingerprint of template `name` as it is on disk now (None if the file is gone)."""
        if name not in self._templates:
            try:
                self._templates[name] = template_fingerprint(load_template(name))
            except Exception:
                self._templates[name] = None
        return self._templates[name]


# -- augmentation items ---------------------------------------------------------------------


def item_inputs(strategy: str, template: PromptTemplate, document_ids: list[str], sentence_ids: list[str],
                corpus_hash: str | None, model: str, settings: dict, seed: int) -> dict:
    """The fingerprint of one augmentation item: what its output depends on. Its key is `sha(inputs)`."""
    return {
        "strategy": strategy,
        "template": template_fingerprint(template),
        "documents": list(document_ids),
        "sentences": list(sentence_ids),
        "corpus": corpus_hash,
        "model": model,
        "settings": settings,
        "seed": seed,
    }


def recorded_item_inputs(row: dict) -> dict:
    """An item row's recorded inputs; rows from before fingerprints give their sources only."""
    if row.get("inputs"):
        return json.loads(row["inputs"])
    return {
        "documents": json.loads(row.get("document_ids") or "[]"),
        "corpus": row.get("corpus_hash") if row.get("strategy") == "global" else None,
    }


def item_currency(row: dict, state: CorpusState) -> Currency:
    """Whether an augmentation item's sources are unchanged: its documents, the corpus (global), its template."""
    inputs = recorded_item_inputs(row)
    changed = []
    if any(d not in state.document_ids for d in inputs.get("documents") or []):
        changed.append("a source document changed or was removed")
    if inputs.get("corpus") and inputs["corpus"] != state.corpus_hash:
        changed.append("the corpus changed (global items see every document)")
    template = inputs.get("template")
    if template and state.template(template.split("@")[0]) != template:
        changed.append(f"template {template.split('@')[0]} changed")
    return Currency.judge(changed)


def usable_examples(store, strategy: str, state: CorpusState | None = None) -> list[dict]:
    """A strategy's augmented examples that training may use: their item is current and every
    document the example itself traces to is still stored."""
    state = state or CorpusState(store)
    current = {row["key"] for row in store.augment_items(strategy) if item_currency(row, state).current}
    return [e for e in store.examples(strategy) if e["item_key"] in current
            and all(d in state.document_ids for d in json.loads(e["source_document_ids"] or "[]"))]


# -- adapters -------------------------------------------------------------------------------


def adapter_inputs(training_set_sha: str, config: TrainConfig) -> dict:
    """The fingerprint of an adapter: its training set, the settings that decide its weights, its base model."""
    return {
        "training_set": training_set_sha,
        "hyperparameters": json.loads(json.dumps(config.hyperparameters())),
        "model": model_fingerprint(config.model),
    }


def read_adapter_record(adapter_dir: Path) -> dict | None:
    """An adapter's `adaptdocs.json`, or None when there is no complete adapter there."""
    path = Path(adapter_dir) / "adaptdocs.json"
    if not path.is_file() or not (Path(adapter_dir) / "adapter_config.json").is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe_changes(recorded: dict, current: dict) -> list[str]:
    """Which adapter inputs differ, in words."""
    changed = []
    if recorded.get("training_set") != current["training_set"]:
        changed.append("training set (documents or augmented examples changed)")
    hp_old, hp_new = recorded.get("hyperparameters") or {}, current["hyperparameters"]
    for name in sorted(set(hp_old) | set(hp_new)):
        if hp_old.get(name) != hp_new.get(name):
            changed.append(f"{name} {hp_old.get(name)} → {hp_new.get(name)}")
    if recorded.get("model") != current["model"]:
        changed.append(f"base model {recorded.get('model')} → {current['model']}")
    return changed


@dataclass
class AdapterState:
    """An adapter directory judged against the training settings in force."""

    data: str
    record: dict | None  # adaptdocs.json, None when there is no complete adapter
    currency: Currency
    inputs: dict  # what a current adapter would record
    training_set: object  # the TrainingSet the settings give now

    @property
    def missing(self) -> bool:
        return self.record is None


def adapter_currency(ws, config: TrainConfig, state: CorpusState | None = None) -> AdapterState:
    """Judge `<workspace>/adapters/<config.data>` against the training set and settings `config` gives now.

    Args:
        ws: the Workspace.
        config: the training settings in force (train's flags, or compare's, or the defaults).
        state: the corpus state, when judging several artifacts at once.
    """
    from .training_data import build_training_set

    state = state or CorpusState(ws.store)
    training_set = build_training_set(ws, config.data, config.split, state)
    current = adapter_inputs(training_set.sha256, config)
    record = read_adapter_record(ws.adapter_dir(config.data))
    if record is None:
        return AdapterState(config.data, None, Currency(False, ["no adapter"]), current, training_set)
    recorded = record.get("inputs")
    if not isinstance(recorded, dict):
        return AdapterState(config.data, record, Currency(False, ["trained before fingerprints were recorded"]), current, training_set)
    return AdapterState(config.data, record, Currency.judge(describe_changes(recorded, current)), current, training_set)


# -- the exam -------------------------------------------------------------------------------


def exam_inputs(store, exam_format: int, templates: tuple[str, ...], settings: dict, teacher: ModelConfig | None) -> dict:
    """The fingerprint of a generated exam: the corpus, its template files, its settings, the model that wrote questions."""
    return {
        "format": exam_format,
        "corpus_hash": store.corpus_hash(),
        # Some exam templates are wording tables, not prompts: their files are hashed as they are.
        "templates": {name: _template_file_sha(name) for name in templates},
        "settings": settings,
        "teacher": model_fingerprint(teacher) if teacher is not None else None,
    }


def _template_file_sha(name: str) -> str:
    from . import templates as templates_module

    path = templates_module.TEMPLATES_DIR / f"{name}.toml"
    return file_sha(path)[:16] if path.is_file() else "missing"


def changed_inputs(recorded: dict, current: dict) -> list[str]:
    """The names of the inputs whose recorded value differs from the current one (corpus_hash, templates, ...)."""
    return sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))


# -- reports --------------------------------------------------------------------------------


def report_inputs(questions_sha: str, adapters: dict[str, dict], model: ModelConfig) -> dict:
    """The fingerprint of a report: its question set, the adapters it evaluated (their inputs), the model."""
    return {"questions": questions_sha, "adapters": {d: sha(inputs) for d, inputs in adapters.items()},
            "model": model_fingerprint(model)}


def report_currency(ws, report: dict) -> Currency:
    """Whether a report still describes the workspace: same question file, same adapters."""
    recorded = report.get("inputs")
    if not isinstance(recorded, dict):
        return Currency(False, ["written before fingerprints were recorded"])
    changed = []
    path = (report.get("questions") or {}).get("path")
    if path and (not Path(path).is_file() or file_sha(path) != recorded.get("questions")):
        changed.append(f"question file {path} changed")
    for data, digest in (recorded.get("adapters") or {}).items():
        record = read_adapter_record(ws.adapter_dir(data))
        if record is None or sha(record.get("inputs")) != digest:
            changed.append(f"adapter {data} was retrained or removed")
    return Currency.judge(changed)


# -- documents ------------------------------------------------------------------------------


def document_currency(row: dict) -> Currency:
    """Whether a stored document's file is unchanged on disk (size and mtime first, content hash if they moved)."""
    path = Path(row["path"])
    if not path.is_file():
        return Currency(False, [f"{row['relpath']} is gone"])
    stat = path.stat()
    if stat.st_size == row.get("bytes") and stat.st_mtime == row.get("mtime"):
        return Currency(True)
    return Currency.judge([] if file_sha(path) == row["id"] else [f"{row['relpath']} changed on disk"])
