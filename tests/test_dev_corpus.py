"""The development corpus (benchmarks/corpora/ondravel/): reproducible, its answers follow from its
fact table, and its recall questions complete text that ingest really produces."""

import hashlib
import html
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from adaptdocs.questions import load_questions

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "corpora" / "make_ondravel.py"
CORPUS = ROOT / "benchmarks" / "corpora" / "ondravel"
DOCS = CORPUS / "docs"
KINDS = ["recall", "rephrase", "reversal", "multihop", "syllogism", "aggregation", "comparison_reversal"]
COUNTS = ["one", "two", "three", "four"]

# Recall questions whose words ingest does not turn into training sentences verbatim. Field lines in
# a .txt file ("Project: Drobbelin" / "Lead: ...") are sentences now, each ending with a full stop
# ("Project: Drobbelin. Lead: Tesmira Quarrendt."), while the question runs them together. Not
# strict, so that changing either side does not break this file; remove the entry then.
KNOWN_INGEST_LOSSES: dict[str, str] = {}  # recall questions whose source text ingest loses (none now)


def _loose(text: str) -> str:
    """Text without full stops: a field line ("Lead: X") is read as a sentence ("Lead: X.") by ingest."""
    return text.replace(".", "")


def _questions_raw() -> list[dict]:
    return [json.loads(line) for line in (CORPUS / "questions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def question_set():
    return load_questions(CORPUS / "questions.jsonl", strict=True)


@pytest.fixture(scope="module")
def facts() -> list[dict]:
    return [json.loads(line) for line in (CORPUS / "facts.jsonl").read_text().splitlines()]


def reader_text(path: Path) -> str:
    """What a reader sees, whitespace collapsed, with every table row also written as design.md
    reads it ("Header: cell. Header: cell.")."""
    from adaptdocs.ingest import table_sentences

    rows: list[str] = []
    if path.suffix in (".md", ".txt"):
        text = path.read_text(encoding="utf-8")
    elif path.suffix == ".html":
        source = path.read_text(encoding="utf-8")
        text = html.unescape(re.sub(r"<[^>]+>", " ", source))
        rows = [r for t in re.findall(r"<table>.*?</table>", source, re.S) for r in table_sentences(t)]
    elif path.suffix == ".docx":
        import docx

        document = docx.Document(str(path))
        text = "\n".join(p.text for p in document.paragraphs)
        for table in document.tables:
            cells = [[c.text for c in row.cells] for row in table.rows]
            rows += [" ".join(f"{h}: {c}." for h, c in zip(cells[0], row)) for row in cells[1:]]
    elif path.suffix == ".pdf":
        import pypdf

        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    else:
        raise AssertionError(f"unexpected file in docs/: {path.name}")
    return " ".join(" ".join([text, *rows]).split())


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {p.name: reader_text(p) for p in sorted(DOCS.iterdir())}


@pytest.fixture(scope="module")
def ingested() -> dict[str, str]:
    """Each document's training sentences as the document words them (before references were
    resolved: `original`), joined in order by one space."""
    from adaptdocs.ingest import FORMATS, ParseJob, Parsed, parse_document, prepare_parser

    prepare_parser()
    out = {}
    for path in sorted(DOCS.iterdir()):
        data = path.read_bytes()
        parsed = parse_document(ParseJob(path.name, FORMATS[path.suffix], hashlib.sha256(data).hexdigest(), data))
        assert isinstance(parsed, Parsed), parsed
        out[path.name] = " ".join(s["original"] or s["text"] for s in parsed.sentences)
    return out


# -- shape ----------------------------------------------------------------------------------------


def test_script_reproduces_the_committed_files(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_ondravel", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_ondravel", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("questions.jsonl", "facts.jsonl", "README.md"):
        assert (tmp_path / name).read_bytes() == (CORPUS / name).read_bytes(), name
    generated = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert generated == sorted(p.name for p in DOCS.iterdir())
    for name in generated:
        assert (tmp_path / "docs" / name).read_bytes() == (DOCS / name).read_bytes(), name


def test_documents_in_five_formats_with_tables():
    names = [p.name for p in DOCS.iterdir()]
    assert 12 <= len(names) <= 15
    assert {Path(n).suffix for n in names} == {".md", ".html", ".txt", ".docx", ".pdf"}
    assert any("<table>" in p.read_text() for p in DOCS.glob("*.html"))
    import docx

    assert any(docx.Document(str(p)).tables for p in DOCS.glob("*.docx"))


def test_pdfs_have_a_text_layer(texts):
    for name, text in texts.items():
        if name.endswith(".pdf"):
            assert len(text.split()) > 30, name


def test_question_file_loads_without_problems(question_set):
    assert question_set.problems == []


def test_every_kind_has_ten_to_sixteen_questions(question_set):
    counts = Counter(q.kind for q in question_set.questions)
    assert set(counts) == set(KINDS)
    assert all(10 <= counts[kind] <= 16 for kind in KINDS), counts


def test_four_distinct_choices_and_one_answer_each(question_set):
    for q in question_set.questions:
        assert len(q.choices) == 4 and len(set(q.choices)) == 4, q.id
        assert 0 <= q.answer < 4


def test_correct_index_is_balanced_within_every_kind(question_set):
    for kind in KINDS:
        positions = Counter(q.answer for q in question_set.questions if q.kind == kind)
        assert len(positions) == 4 and max(positions.values()) - min(positions.values()) <= 1, (kind, positions)


def test_question_texts_are_unique(question_set):
    seen = [q.question for q in question_set.questions]
    assert len(seen) == len(set(seen))


def test_sources_exist_and_chains_span_two_documents(question_set):
    names = {p.name for p in DOCS.iterdir()}
    for q in question_set.questions:
        assert q.sources and set(q.sources) <= names, q.id
        if q.kind in ("multihop", "syllogism"):
            assert len(set(q.sources)) == 2, q.id


def test_no_question_but_recall_appears_verbatim_in_the_documents(question_set, texts):
    corpus = " ".join(texts.values()).lower()
    for q in question_set.questions:
        if q.kind != "recall":
            assert " ".join(q.question.split()).lower().rstrip("?") not in corpus, q.id


# -- the fact table -------------------------------------------------------------------------------


def test_every_fact_is_stated_once_in_its_document_and_in_one_direction(facts, texts):
    corpus = " ".join(texts.values())
    assert len({(f["subject"], f["relation"]) for f in facts}) == len(facts)
    for f in facts:
        stated = f["statement"]
        assert _loose(stated) in _loose(texts[f["document"]]), f
        assert _loose(corpus).count(_loose(stated)) == 1, f
        assert f["reversed_statement"] not in corpus, f
        # Subject before object: the statement is worded in the direction the fact table gives.
        assert stated.index(f["subject"]) < stated.index(f["object"]), f


def _split_set(choice: str) -> frozenset[str]:
    return frozenset(re.split(r", | and ", choice))


def correct_choices(q, facts: list[dict]) -> set[str]:
    """The choices the fact table makes correct, worked out here from facts.jsonl alone."""
    def forward(relation: str) -> dict[str, str]:
        return {f["subject"]: f["object"] for f in facts if f["relation"] == relation}

    def backward(relation: str, obj: str) -> set[str]:
        return {f["subject"] for f in facts if f["relation"] == relation and f["object"] == obj}

    text, choices = q.question, q.choices
    if q.kind == "recall":
        # The choice completes the statement of a fact whose object it is.
        return {c for c in choices for f in facts
                if f["object"] == c and f["statement"].startswith(f"{text} {c}")}
    comparisons = {"has a smaller budget than": "bigger_budget", "started later than": "started_earlier",
                   "is less sensitive than": "more_sensitive", "lies lower than": "higher"}
    phrases = "|".join(comparisons)
    single: list[tuple[str, callable]] = [
        (r"At which station is the (\w+) project based\?", lambda s: {forward("based_at")[s]}),
        (r"Who leads the (\w+) project\?", lambda s: {forward("led_by")[s]}),
        (r"Which organisation funds the (\w+) project\?", lambda s: {forward("funded_by")[s]}),
        (r"Which project uses the (\w+) instrument\?", lambda s: {forward("used_by")[s]}),
        (r"Which series does the (\w+) instrument belong to\?", lambda s: {forward("is_a")[s]}),
        (r"How often are (\w+) instruments calibrated\?", lambda s: {forward("calibrated")[s]}),
        (r"Which permit is needed to operate a (\w+) instrument\?", lambda s: {forward("permit")[s]}),
        (r"Which project is based at the (\w+) station\?", lambda o: backward("based_at", o)),
        (r"Which project does (.+) lead\?", lambda o: backward("led_by", o)),
        (r"Which project gets its money from the (.+)\?", lambda o: backward("funded_by", o)),
        (r"Which instrument does the (\w+) project use\?", lambda o: backward("used_by", o)),
        (r"Which instrument is part of the (\w+) series\?", lambda o: backward("is_a", o)),
        (r"Which series of instruments is calibrated (.+)\?", lambda o: backward("calibrated", o)),
        (r"Which series can only be operated with a (\w+) permit\?", lambda o: backward("permit", o)),
        (r"At which station is the project that uses the (\w+) instrument based\?",
         lambda i: {forward("based_at")[forward("used_by")[i]]}),
        (r"Who leads the project that uses the (\w+) instrument\?",
         lambda i: {forward("led_by")[forward("used_by")[i]]}),
        (r"Which organisation funds the project that uses the (\w+) instrument\?",
         lambda i: {forward("funded_by")[forward("used_by")[i]]}),
        (r"How often is the (\w+) instrument calibrated\?", lambda i: {forward("calibrated")[forward("is_a")[i]]}),
        (r"Which permit does someone need to operate the (\w+) instrument\?",
         lambda i: {forward("permit")[forward("is_a")[i]]}),
    ]
    sets: list[tuple[str, callable]] = [
        (r"Which projects are funded by the (.+)\?", lambda o: backward("funded_by", o)),
        (r"Which projects are run from the (\w+) station\?", lambda o: backward("based_at", o)),
        (r"Which instruments belong to the (\w+) series\?", lambda o: backward("is_a", o)),
        (r"Which instruments does the (\w+) project use\?", lambda o: backward("used_by", o)),
        (r"Which instruments must be calibrated (.+)\?",
         lambda o: {i for i, s in forward("is_a").items() if forward("calibrated")[s] == o}),
    ]
    counts: list[tuple[str, callable]] = [
        (r"How many projects does the (.+) (?:fund|pay for)\?", lambda o: backward("funded_by", o)),
        (r"How many projects are run from the (\w+) station\?", lambda o: backward("based_at", o)),
        (r"How many instruments belong to the (\w+) series\?", lambda o: backward("is_a", o)),
    ]
    for pattern, solve in single:
        if m := re.fullmatch(pattern, text):
            return set(choices) & solve(m.group(1))
    for pattern, solve in sets:
        if m := re.fullmatch(pattern, text):
            return {c for c in choices if _split_set(c) == frozenset(solve(m.group(1)))}
    for pattern, solve in counts:
        if m := re.fullmatch(pattern, text):
            return {COUNTS[len(solve(m.group(1))) - 1]} & set(choices)
    if m := re.fullmatch(rf"Which (\w+) ({phrases}) the (\w+) \1\?", text):
        relation, winner = comparisons[m.group(2)], m.group(3)
        return set(choices) & backward_pairs(facts, relation, winner=winner)
    if m := re.fullmatch(rf"The (\w+) (\w+) ({phrases}) the", text):
        loser, noun, relation = m.group(1), m.group(2), comparisons[m.group(3)]
        winners = {f["subject"] for f in facts if f["relation"] == relation and f["object"] == loser}
        return set(choices) & {f"{w} {noun}" for w in winners}
    raise AssertionError(f"no rule for question {q.id}: {text}")


def backward_pairs(facts: list[dict], relation: str, winner: str) -> set[str]:
    return {f["object"] for f in facts if f["relation"] == relation and f["subject"] == winner}


def test_every_answer_follows_from_the_fact_table_and_only_it(question_set, facts):
    for q in question_set.questions:
        correct = correct_choices(q, facts)
        assert correct == {q.choices[q.answer]}, (q.id, correct)


# -- recall against ingest ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "qid",
    [pytest.param(q["id"], marks=pytest.mark.xfail(reason=KNOWN_INGEST_LOSSES[q["id"]], strict=False))
     if q["id"] in KNOWN_INGEST_LOSSES else q["id"]
     for q in _questions_raw() if q["kind"] == "recall"],
)
def test_recall_completes_text_that_ingest_produces(qid, question_set, texts, ingested):
    """A recall question plus its answer is in the source's training sentences (as the document
    words it); the prefix alone does not contain the answer."""
    q = next(q for q in question_set.questions if q.id == qid)
    answer = q.choices[q.answer]
    stated = f"{q.question} {answer}"
    assert q.style == "cloze" and answer not in q.question
    assert _loose(stated) in _loose(texts[q.sources[0]]), "not the document's own wording"
    assert stated in ingested[q.sources[0]], "lost or changed by ingest"
