"""The exam: multiple-choice questions built from the corpus, kept apart from training.

`build_exam` writes `<workspace>/exam/questions.jsonl` (design.md's question schema, plus
`made_by` and the `evidence` sentences) and `exam/exam.json` (what it was built from). It is
rebuilt only when the corpus, the exam templates or the settings change. Its questions are
never written to the store, so no training set ever contains them.

Kinds, and how each is made:
- recall (`made_by: cloze`): a sentence's prefix up to a name (or a table cell), completed by it;
- reversal (`template`): "The Plosk tool is owned by the Mubadra team." asked from its other
  side, "Which tool is owned by the Mubadra team?"; a table row's first cell asked from a cell
  unique in its column;
- rephrase (`template`): a table row's cell asked as a question;
- aggregation (`template`): every name the corpus says the same thing of ("Which names fill the
  blank in ...?");
- reversal, rephrase, multihop (`model:<name>`): statements the model writes (a fact restated from
  its other side; two facts joined without their shared name), kept only when they pass the
  checks of exam_written.py and in-context verification (verify.py), then asked as a cloze or a
  question.
Every question has 4 choices; the 3 wrong ones are names of the answer's kind that the corpus
never says together with the question's anchors (exam_facts.py), so exactly one is supported.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .augment_filters import CorpusVocabulary, normalise
from .config import ModelConfig
from .errors import AdaptdocsError
from .exam_facts import (
    MAX_CELL_WORDS,
    COORDINATORS,
    Fact,
    FactIndex,
    Mention,
    cloze_choices,
    cloze_reason_to_skip,
    frame,
    has_pronoun,
    read_facts,
    same_frame_groups,
)
from .lineage import changed_inputs, exam_inputs
from .exam_written import (
    MULTIHOP_TEMPLATE,
    REVERSAL_TEMPLATE,
    Written,
    check_join,
    check_reversal,
    load_exam_template,
    plan_prompts,
    subject_question,
)
from .models.base import Model, Usage
from .progress import NullReporter, Reporter
from .questions import Question
from .templates import TEMPLATES_DIR
from .verify import VERIFY_MARGIN, Check, verify_many
from .workspace import Workspace

# Bump when the way questions are built changes, so existing exams are rebuilt.
EXAM_FORMAT = 1
MAX_SIZE = 200
N_CHOICES = 4
WORDING_FILE = "exam_questions"
EXAM_TEMPLATES = (WORDING_FILE, REVERSAL_TEMPLATE, MULTIHOP_TEMPLATE, "exam_verify")
KINDS = ("recall", "reversal", "rephrase", "multihop", "aggregation")
MAX_AGGREGATE = 4  # the most names an aggregation answer lists


@dataclass
class ExamConfig:
    # Questions in the exam; None: all it can make, at most MAX_SIZE (balanced across kinds).
    size: int | None = None
    # Seeds the choice of distractors, of questions when there are too many, and answer positions.
    seed: int = 0
    # The model that writes the reversal/rephrase/multihop statements (default: the embedded model).
    teacher: ModelConfig = field(default_factory=ModelConfig)
    # False: only the kinds built by rule (no model is loaded): fast, and right by construction.
    model_written: bool = True
    # Nats by which a written statement must beat each of its corruptions in verification.
    margin: float = VERIFY_MARGIN
    # The most prompts per model-written kind (reversal, multihop): bounds the time on a CPU.
    max_written: int = 64
    # Prompts generated, or sequences scored, together.
    batch_size: int = 32
    # Fewer questions than this is no exam: the per-kind intervals would span most of [0, 1].
    min_questions: int = 20
    # Rebuild even when the corpus, templates and settings are unchanged.
    force: bool = False

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 1:
            raise AdaptdocsError("--exam-size must be at least 1")
        if self.batch_size < 1:
            raise AdaptdocsError("--batch-size must be at least 1")
        if self.margin < 0:
            raise AdaptdocsError("the verification margin must not be negative")

    @property
    def limit(self) -> int:
        return self.size if self.size is not None else MAX_SIZE


@dataclass
class KindYield:
    """What building one kind made: candidates tried, questions made, and the drops by reason."""

    candidates: int = 0
    made: int = 0
    dropped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"candidates": self.candidates, "made": self.made, "dropped": dict(sorted(self.dropped.items()))}


@dataclass
class ExamResult:
    """The exam on disk and how it was made.

    Args:
        path: `<workspace>/exam/questions.jsonl`.
        questions: its questions.
        rebuilt: built now (False: the stored exam was current and reused).
        corpus_hash: the corpus it was built from.
        teacher: the model that wrote statements (None when none was used).
        by_kind: kind → number of questions.
        made_by: kind → how made → number of questions.
        yields: "<kind> by <how>" → KindYield as a dict, before the exam size was applied.
        seconds: time the build took (0 when reused).
        usage: tokens the teacher processed.
    """

    path: Path
    questions: list[Question]
    rebuilt: bool
    corpus_hash: str
    teacher: str | None
    by_kind: dict[str, int]
    made_by: dict[str, dict[str, int]]
    yields: dict[str, dict]
    seconds: float = 0.0
    usage: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.questions)

    def summary(self) -> str:
        """One paragraph for the report: that the exam was generated, how, and what it holds."""
        parts = []
        for kind, n in self.by_kind.items():
            how = ", ".join(f"{count} {made}" for made, count in self.made_by[kind].items())
            parts.append(f"{kind} {n} ({how})")
        written = f"; statements written by {self.teacher} were kept only where verified against their sources" if self.teacher else ""
        return (
            f"Exam generated from the corpus ({self.n} questions: {'; '.join(parts)}). 'cloze' asks a document "
            f"sentence's prefix, 'template' words a fact by a fixed rule{written}. Wrong choices are names of the "
            f"answer's kind that the documents never state with the question's names. Review it with "
            f"`adaptdocs questions show`; edit {self.path} and pass it with --questions to use your own."
        )

    def as_dict(self) -> dict:
        return {
            "path": str(self.path),
            "n": self.n,
            "rebuilt": self.rebuilt,
            "corpus_hash": self.corpus_hash,
            "teacher": self.teacher,
            "by_kind": self.by_kind,
            "made_by": self.made_by,
            "yields": self.yields,
            "seconds": round(self.seconds, 2),
            "usage": self.usage,
            "summary": self.summary(),
        }


@dataclass
class Draft:
    """A question before choices are shuffled and ids given."""

    kind: str
    style: str
    question: str
    answer: str
    distractors: list[str]
    facts: list[Fact]
    made_by: str

    def key(self) -> str:
        return f"{self.kind}|{self.style}|{normalise(self.question)}"


def exam_dir(ws: Workspace) -> Path:
    return ws.root / "exam"


def exam_paths(ws: Workspace) -> tuple[Path, Path]:
    """(questions.jsonl, exam.json) of the workspace's exam."""
    return exam_dir(ws) / "questions.jsonl", exam_dir(ws) / "exam.json"


ModelSource = Model | Callable[[], Model] | None


def build_exam(ws: Workspace, config: ExamConfig | None = None, model: ModelSource = None,
               reporter: Reporter = NullReporter()) -> ExamResult:
    """Build the workspace's exam, or reuse it when the corpus, templates and settings are unchanged.

    Args:
        ws: the workspace (documents must be ingested).
        config: size, seed, teacher, whether the model writes questions, verification margin
            (None: the defaults).
        model: the teacher, already loaded, or a function loading it; None loads `config.teacher`
            when it is needed. It is taken to be the model `config.teacher` names (the key the
            stored exam is checked against).
        reporter: progress and one-line notes.

    Raises:
        AdaptdocsError: the workspace holds no documents, or the corpus makes too few questions.
    """
    config = config or ExamConfig()
    ws.require_documents()
    questions_path, meta_path = exam_paths(ws)
    key = _build_key(ws, config)
    if not config.force:
        stored = _load_if_current(questions_path, meta_path, key)
        if stored is not None:
            reporter.log(f"exam: {stored.n} questions, current for this corpus: {questions_path}")
            return stored

    start = time.perf_counter()
    store = ws.store
    sentences = store.sentences()
    sources = {d.id: d.relpath for d in store.documents()}
    vocabulary = CorpusVocabulary(s.text for s in sentences)
    facts = read_facts(sentences, sources, vocabulary)
    index = FactIndex(facts)
    wording = _wordings()
    yields: dict[str, KindYield] = defaultdict(KindYield)
    drafts = (
        cloze_drafts(facts, index, config.seed, yields)
        + subject_drafts(facts, index, config.seed, yields)
        + table_drafts(facts, index, wording, config.seed, yields)
        + aggregation_drafts(facts, index, wording, config.seed, yields)
    )
    teacher, usage = None, Usage()
    if config.model_written:
        teacher, usage, written = written_drafts(facts, index, vocabulary, config, model, reporter, yields)
        drafts += written
    drafts = _unique(drafts)
    floor = min(config.min_questions, config.limit)
    if len(drafts) < floor:
        counts = Counter(d.kind for d in drafts)
        shown = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"
        raise AdaptdocsError(
            f"the corpus makes only {len(drafts)} exam questions ({shown}); an exam needs at least {floor}",
            "ingest more documents that state facts about named things (who owns what, what belongs to what), "
            "or write a question file (see design.md) and pass it with --questions",
        )
    questions = finalise(select(drafts, config.limit, config.seed), config.seed)
    result = ExamResult(
        path=questions_path,
        questions=questions,
        rebuilt=True,
        corpus_hash=key["corpus_hash"],
        teacher=teacher,
        by_kind=_count_by_kind(questions),
        made_by=_count_made_by(questions),
        yields={name: y.as_dict() for name, y in sorted(yields.items())},
        seconds=time.perf_counter() - start,
        usage=usage.as_dict(),
    )
    _write(questions_path, meta_path, questions, drafts_evidence(questions, drafts), key, result, reporter)
    reporter.log(result.summary())
    return result


# -- the stored exam --------------------------------------------------------------------


def _build_key(ws: Workspace, config: ExamConfig) -> dict:
    """Everything the exam depends on (lineage.exam_inputs); a stored exam with the same inputs is reused."""
    return exam_inputs(ws.store, EXAM_FORMAT, EXAM_TEMPLATES, {
        "size": config.size,
        "seed": config.seed,
        "model_written": config.model_written,
        "margin": config.margin if config.model_written else None,
        "max_written": config.max_written if config.model_written else None,
    }, config.teacher if config.model_written else None)


def _load_if_current(questions_path: Path, meta_path: Path, key: dict) -> ExamResult | None:
    if not (questions_path.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if changed_inputs(meta.get("key") or {}, key):
        return None
    from .questions import load_questions

    questions = load_questions(questions_path).questions
    return ExamResult(
        path=questions_path, questions=questions, rebuilt=False, corpus_hash=key["corpus_hash"],
        teacher=meta.get("teacher"), by_kind=_count_by_kind(questions), made_by=_count_made_by(questions),
        yields=meta.get("yields", {}), seconds=0.0, usage=meta.get("usage", {}),
    )


def load_exam(ws: Workspace) -> ExamResult | None:
    """The workspace's stored exam as it is on disk (current or not), or None if none was built."""
    questions_path, meta_path = exam_paths(ws)
    if not questions_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        meta = {}
    from .questions import load_questions

    questions = load_questions(questions_path).questions
    return ExamResult(
        path=questions_path, questions=questions, rebuilt=False, corpus_hash=meta.get("key", {}).get("corpus_hash", ""),
        teacher=meta.get("teacher"), by_kind=_count_by_kind(questions), made_by=_count_made_by(questions),
        yields=meta.get("yields", {}), usage=meta.get("usage", {}),
    )


def review(ws: Workspace, path: str | Path | None = None, kind: str | None = None,
           limit: int | None = None) -> list[dict]:
    """The questions of a file (default: the workspace's exam) as dicts, with their `evidence`.

    Args:
        ws: the workspace whose exam is read when `path` is None.
        path: a question file in design.md's schema.
        kind: only questions of this kind.
        limit: at most this many.

    Raises:
        AdaptdocsError: no exam was built and no file given, or the file is not a question file.
    """
    from .questions import load_questions

    if path is None:
        path = exam_paths(ws)[0]
        if not path.exists():
            raise AdaptdocsError(f"workspace {ws.root} has no exam yet", "run `adaptdocs questions build` first")
    path = Path(path)
    questions = load_questions(path).questions
    evidence = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("evidence"), list):
            evidence[str(record.get("id"))] = [str(e) for e in record["evidence"]]
    rows = [{**asdict(q), "evidence": evidence.get(q.id, [])} for q in questions if kind is None or q.kind == kind]
    return rows[:limit] if limit is not None else rows


def _write(questions_path: Path, meta_path: Path, questions: list[Question], evidence: dict[str, list[str]],
           key: dict, result: ExamResult, reporter: Reporter) -> None:
    questions_path.parent.mkdir(parents=True, exist_ok=True)
    if questions_path.exists() and meta_path.exists():
        try:
            recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("questions_sha256")
        except (OSError, json.JSONDecodeError):
            recorded = None
        if recorded and recorded != hashlib.sha256(questions_path.read_bytes()).hexdigest():
            backup = questions_path.with_name("questions.edited.jsonl")
            questions_path.replace(backup)
            reporter.log(f"exam: {questions_path} was edited by hand; kept as {backup} before rebuilding")
    lines = []
    for q in questions:
        record = {k: v for k, v in asdict(q).items() if v is not None}
        record["evidence"] = evidence.get(q.id, [])
        lines.append(json.dumps(record, ensure_ascii=False))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    tmp = questions_path.with_suffix(".jsonl.tmp")
    tmp.write_bytes(data)
    tmp.replace(questions_path)
    meta = {
        "key": key,
        "questions_sha256": hashlib.sha256(data).hexdigest(),
        "teacher": result.teacher,
        "n": result.n,
        "by_kind": result.by_kind,
        "made_by": result.made_by,
        "yields": result.yields,
        "usage": result.usage,
        "seconds": round(result.seconds, 2),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(meta_path)


def _count_by_kind(questions: Sequence[Question]) -> dict[str, int]:
    counts = Counter(q.kind for q in questions)
    return {k: counts[k] for k in sorted(counts, key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k))}


def _count_made_by(questions: Sequence[Question]) -> dict[str, dict[str, int]]:
    made: dict[str, Counter] = defaultdict(Counter)
    for q in questions:
        made[q.kind][getattr(q, "made_by", None) or "unknown"] += 1
    return {k: dict(sorted(made[k].items())) for k in _count_by_kind(questions)}


def _wordings() -> dict[str, str]:
    path = TEMPLATES_DIR / f"{WORDING_FILE}.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AdaptdocsError(f"cannot read {path}: {e}", "check the templates/ folder") from None


# -- questions built by rule -------------------------------------------------------------


def _rng(seed: int, *parts: str) -> random.Random:
    return random.Random("|".join([str(seed), *parts]))


def _draft(kind: str, style: str, question: str, answer: Mention, anchors: list[str], facts: list[Fact],
           made_by: str, index: FactIndex, seed: int, yields: dict[str, KindYield], excluded=()) -> Draft | None:
    tally = yields[f"{kind} by {made_by.split(':')[0]}"]
    tally.candidates += 1
    distractors = index.distractors(answer.text, answer, anchors, _rng(seed, kind, question), excluded)
    if distractors is None:
        tally.dropped["too_few_distractors"] += 1
        return None
    tally.made += 1
    return Draft(kind, style, question, answer.text, distractors, facts, made_by)


def cloze_drafts(facts: Sequence[Fact], index: FactIndex, seed: int, yields: dict[str, KindYield]) -> list[Draft]:
    """recall: each sentence cut before each of its mentions that has an anchor before it."""
    drafts = []
    for fact in facts:
        for i, mention in enumerate(fact.mentions):
            if i == 0:
                continue
            tally = yields["recall by cloze"]
            tally.candidates += 1
            reason = cloze_reason_to_skip(fact, i, index.known)
            if reason is not None:
                tally.dropped[reason] += 1
                continue
            relation = frame(fact)
            anchors = [m.text for m in fact.mentions[:i]]
            excluded = {n for m in fact.mentions for n in index.reachable(m.text, relation)} | set(fact.names)
            prefix = fact.text[: mention.start].rstrip()
            made = cloze_choices(index, prefix, mention, anchors, _rng(seed, "recall", prefix), excluded)
            if made is None:
                tally.dropped["too_few_distractors"] += 1
                continue
            tally.made += 1
            drafts.append(Draft("recall", "cloze", *made, [fact], "cloze"))
    return drafts


def subject_drafts(facts: Sequence[Fact], index: FactIndex, seed: int, yields: dict[str, KindYield]) -> list[Draft]:
    """reversal: "The X tool is owned by the Y team." → "Which tool is owned by the Y team?" (X)."""
    drafts = []
    for fact in facts:
        if fact.table or fact.unclear or len(fact.mentions) < 2 or has_pronoun(fact.text):
            continue
        made = subject_question(fact.text, fact.mentions)
        if made is None:
            continue
        question, at = made
        answer = fact.mentions[at]
        anchors = [m.text for m in fact.mentions if m is not answer]
        excluded = {n for a in anchors for n in index.reachable(a, frame(fact))}
        draft = _draft("reversal", "question", question, answer, anchors, [fact], "template", index, seed, yields, excluded)
        if draft:
            drafts.append(draft)
    return drafts


def table_drafts(facts: Sequence[Fact], index: FactIndex, wording: dict[str, str], seed: int,
                 yields: dict[str, KindYield]) -> list[Draft]:
    """rephrase: "What is the owner of the tool Plosk?"; reversal: "Which tool has the owner Mubadra?"."""
    rows = [f for f in facts if f.table and not f.unclear]
    column_counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        for label, m in zip(row.labels, row.mentions):
            column_counts[label.lower()][m.text] += 1
    drafts = []
    for row in rows:
        key = row.mentions[0]
        entity = row.labels[0].lower()
        if len(key.text.split()) > MAX_CELL_WORDS:
            continue
        for label, cell in zip(row.labels[1:], row.mentions[1:]):
            if len(cell.text.split()) > MAX_CELL_WORDS:
                continue
            attribute = label.lower()
            question = string.Template(wording["table_attribute"]).substitute(attribute=attribute, entity=entity, key=key.text)
            draft = _draft("rephrase", "question", question, cell, [key.text], [row], "template", index, seed, yields)
            if draft:
                drafts.append(draft)
            if column_counts[attribute][cell.text] != 1:
                yields["reversal by template"].candidates += 1
                yields["reversal by template"].dropped["value_not_unique"] += 1
                continue
            question = string.Template(wording["table_key"]).substitute(entity=entity, attribute=attribute, value=cell.text)
            draft = _draft("reversal", "question", question, key, [cell.text], [row], "template", index, seed, yields)
            if draft:
                drafts.append(draft)
    return drafts


def aggregation_drafts(facts: Sequence[Fact], index: FactIndex, wording: dict[str, str], seed: int,
                       yields: dict[str, KindYield]) -> list[Draft]:
    """aggregation: the names the corpus says the same thing of, with the same other name.

    "The _ team works in the Quorvale office" said of Mubadra and of Zarnoth → "Mubadra and
    Zarnoth". Skipped when another name of their kind appears with the fixed name anywhere,
    since the corpus may then say the same of it in other words.
    """
    drafts = []
    tally = yields["aggregation by template"]
    for group in same_frame_groups(facts, index, MAX_AGGREGATE):
        names, fixed = group.names, group.fixed
        tally.candidates += 1
        if group.incomplete:
            tally.dropped["list_may_be_incomplete"] += 1
            continue
        fact, mention = group.members[0]
        others = [n for n in index.candidates(names[0], mention.slot, [fixed], excluded=names)
                  if not any(n.lower() in m.lower() or m.lower() in n.lower() for m in names)]
        rng = _rng(seed, "aggregation", frame(fact), fixed)
        wrong = _wrong_sets(names, others, rng)
        if wrong is None:
            tally.dropped["too_few_distractors"] += 1
            continue
        question = string.Template(wording["aggregation"]).substitute(statement=group.blanked(wording.get("blank", "___")))
        tally.made += 1
        drafts.append(Draft("aggregation", "question", question, _listing(names), [_listing(s) for s in wrong],
                            [f for f, _ in group.members], "template"))
    return drafts


def _listing(names: Sequence[str]) -> str:
    names = sorted(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _wrong_sets(members: list[str], others: list[str], rng: random.Random, n: int = N_CHOICES - 1) -> list[list[str]] | None:
    """`n` lists as long as `members`, each with at least one name that is not a member."""
    if not others:
        return None
    options = {tuple(sorted(members[:i] + [o] + members[i + 1:])) for i in range(len(members)) for o in others}
    if len(others) >= len(members):
        options.add(tuple(sorted(rng.sample(others, len(members)))))
    options = sorted(options)
    if len(options) < n:
        return None
    return [list(o) for o in rng.sample(options, n)]


# -- questions the model writes ---------------------------------------------------------------


def _load_teacher(model: ModelSource, config: ExamConfig, reporter: Reporter) -> Model:
    if isinstance(model, Model):
        return model
    if model is not None:
        return model()
    from .models import load_model

    t = config.teacher
    return load_model(t.model, quantize=t.quantize, device=t.device, reporter=reporter)


def _split_prompt(template, prompt_values: dict[str, str]) -> tuple[str, str]:
    """(shared head, own tail) of a rendered completion template: the head ends before the line
    holding the first placeholder, so every prompt of the template shares it (encoded once)."""
    sentinel = "\x00"
    marked = template.render(**{k: sentinel for k in prompt_values})
    cut = marked.rfind("\n", 0, marked.find(sentinel)) + 1
    full = template.render(**prompt_values)
    return full[:cut], full[cut:]


def written_drafts(facts: Sequence[Fact], index: FactIndex, vocabulary: CorpusVocabulary, config: ExamConfig,
                   model: ModelSource, reporter: Reporter,
                   yields: dict[str, KindYield]) -> tuple[str | None, Usage, list[Draft]]:
    """reversal, rephrase and multihop questions from statements the model writes and verification keeps."""
    templates, allowed = {}, {}
    for name in (REVERSAL_TEMPLATE, MULTIHOP_TEMPLATE):
        templates[name], allowed[name] = load_exam_template(name)
    prompts = plan_prompts(facts, index, config.max_written)
    if not prompts:
        return None, Usage(), []
    teacher = _load_teacher(model, config, reporter)
    made_by = f"model:{teacher.info.name}"
    usage = Usage()
    outputs: list[str] = [""] * len(prompts)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_kind[p.kind].append(i)
    reporter.start(f"exam: {teacher.info.name} writes statements", len(prompts))
    try:
        for kind, members in by_kind.items():
            template = templates[REVERSAL_TEMPLATE if kind == "reversal" else MULTIHOP_TEMPLATE]
            split = [_split_prompt(template, prompts[i].values) for i in members]
            texts, call = teacher.generate(
                [tail + " " + prompts[i].lead for (_, tail), i in zip(split, members)], prefix=split[0][0],
                max_new_tokens=template.max_new_tokens, temperature=0.0, seed=config.seed, stop=template.stop,
                batch_size=config.batch_size, reporter=reporter,
            )
            usage = usage + call
            for i, text in zip(members, texts):
                outputs[i] = prompts[i].lead + text
    finally:
        reporter.finish()

    written: list[Written] = []
    for p, text in zip(prompts, outputs):
        tally = yields[_written_tally(p.kind)]
        tally.candidates += 1
        if p.kind == "reversal":
            result = check_reversal(text, p.facts[0], vocabulary, allowed[REVERSAL_TEMPLATE])
        else:
            result = check_join(text, p.facts[0], p.facts[1], vocabulary, index, allowed[MULTIHOP_TEMPLATE])
        if isinstance(result, str):
            tally.dropped[result] += 1
        else:
            written.append(result)

    candidates = [_questions_of(w, index, config.seed, made_by) for w in written]
    checks = [Check(w.text, [f.text for f in w.facts], _corruptions(w, qs)) for w, qs in zip(written, candidates)]
    reporter.log(f"exam: verifying {len(checks)} written statements in context")
    verdicts, call = verify_many(teacher, checks, config.margin, batch_size=config.batch_size)
    usage = usage + call
    drafts = []
    for w, qs, verdict in zip(written, candidates, verdicts):
        tally = yields[_written_tally(w.kind)]
        if not qs:
            tally.dropped["too_few_distractors"] += 1
        elif not verdict.ok:
            tally.dropped["not_verified"] += 1
        else:
            tally.made += len(qs)
            drafts += qs
    return teacher.info.name, usage, drafts


def _written_tally(kind: str) -> str:
    """Yield key of model-written statements: candidates are prompts, drops are statements, and
    `made` counts questions (a reversal makes a reversal cloze and a rephrase question)."""
    return "reversal+rephrase by model" if kind == "reversal" else f"{kind} by model"


def _questions_of(w: Written, index: FactIndex, seed: int, made_by: str) -> list[Draft]:
    """The questions a verified statement makes: a cloze before its answer mention, and where it
    opens with "The <name> <noun>", the question that asks for that name."""
    drafts = []
    answer = w.mentions[w.answer_index]
    prefix = w.text[: answer.start].rstrip()
    anchors = [m.text for m in w.mentions[: w.answer_index]]
    before = prefix.split()[-1].lower() if prefix.split() else ""
    if anchors and before not in COORDINATORS:
        made = cloze_choices(index, prefix, answer, anchors, _rng(seed, w.kind, prefix), w.excluded)
        if made:
            drafts.append(Draft(w.kind, "cloze", *made, w.facts, made_by))
    asked = subject_question(w.text, w.mentions)
    if asked is not None:
        question, at = asked
        first = w.mentions[at]
        others = [m.text for m in w.mentions if m is not first]
        excluded = w.excluded if w.kind != "multihop" else index.two_hops(others[-1]) | set(w.excluded)
        kind = "rephrase" if w.kind == "reversal" else w.kind
        distractors = index.distractors(first.text, first, others, _rng(seed, kind, question), excluded)
        if distractors:
            drafts.append(Draft(kind, "question", question, first.text, distractors, w.facts, made_by))
    return drafts


def _corruptions(w: Written, questions: list[Draft]) -> list[str]:
    """The statement made false: each cloze distractor in the place of the name the model wrote,
    and its outer two names swapped (the relation turned around). The other name was written for
    the model (the prompt's lead), so swapping it would test nothing."""
    def bare(choice: str) -> str:
        return re.sub(r"^an? ", "", choice)

    answer = w.mentions[w.answer_index]
    out = [w.text[: answer.start] + bare(d) + w.text[answer.end:]
           for q in questions if q.style == "cloze" for d in q.distractors]
    a, b = w.mentions[0], w.mentions[-1]
    out.append(w.text[: a.start] + b.text + w.text[a.end: b.start] + a.text + w.text[b.end:])
    return list(dict.fromkeys(out))


# -- the exam from its drafts -----------------------------------------------------------------


def _unique(drafts: list[Draft]) -> list[Draft]:
    seen, out = set(), []
    for d in drafts:
        if d.key() not in seen:
            seen.add(d.key())
            out.append(d)
    return out


def select(drafts: list[Draft], limit: int, seed: int) -> list[Draft]:
    """At most `limit` drafts, shared as evenly as the kinds allow; all of them when they fit."""
    if len(drafts) <= limit:
        return drafts
    by_kind: dict[str, list[Draft]] = defaultdict(list)
    for d in drafts:
        by_kind[d.kind].append(d)
    quota, left = {}, limit
    for i, kind in enumerate(sorted(by_kind, key=lambda k: len(by_kind[k]))):
        share = left // (len(by_kind) - i)
        quota[kind] = min(share, len(by_kind[kind]))
        left -= quota[kind]
    chosen = []
    for kind, items in by_kind.items():
        chosen += _rng(seed, "select", kind).sample(sorted(items, key=Draft.key), quota[kind])
    order = {id(d): i for i, d in enumerate(drafts)}
    return sorted(chosen, key=lambda d: order[id(d)])


def finalise(drafts: list[Draft], seed: int) -> list[Question]:
    """Questions with ids, and the right choice at each position equally often within a kind."""
    questions, seen_per_kind = [], Counter()
    for kind in dict.fromkeys(d.kind for d in drafts):
        group = [d for d in drafts if d.kind == kind]
        positions = [i % N_CHOICES for i in range(len(group))]
        _rng(seed, "positions", kind).shuffle(positions)
        for d, position in zip(group, positions):
            seen_per_kind[kind] += 1
            wrong = list(d.distractors)
            _rng(seed, "order", d.key()).shuffle(wrong)
            choices = wrong[:position] + [d.answer] + wrong[position:]
            questions.append(Question(
                id=f"{kind}-{seen_per_kind[kind]:03d}", question=d.question, choices=choices, answer=position,
                kind=kind, sources=sorted({f.source for f in d.facts}), style=d.style, made_by=d.made_by,
            ))
    return questions


def drafts_evidence(questions: list[Question], drafts: list[Draft]) -> dict[str, list[str]]:
    """Question id → the sentences it was built from (for review; `questions show` prints them)."""
    by_text = {(d.kind, d.question): d for d in drafts}
    return {q.id: [f.text for f in by_text[(q.kind, q.question)].facts] for q in questions if (q.kind, q.question) in by_text}
