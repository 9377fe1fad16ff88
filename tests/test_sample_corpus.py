"""The sample corpus and its question set: well-formed, consistent with the documents, reproducible."""

import html
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from adaptdocs.questions import load_questions

CORPUS = Path(__file__).resolve().parent.parent / "sample_corpus"
DOCS = CORPUS / "docs"
KINDS = ["recall", "rephrase", "reversal", "multihop", "syllogism", "aggregation", "comparison_reversal"]
# SmolLM2 tokens per whitespace word on this corpus, measured with the real tokenizer (2,383
# tokens / 1,591 words); invented names split into several tokens, hence above the usual ~1.3.
TOKENS_PER_WORD = 1.5


def document_text(path: Path) -> str:
    """The text a reader sees, whitespace collapsed (PDF lines wrap anywhere)."""
    if path.suffix in (".md", ".txt"):
        text = path.read_text(encoding="utf-8")
    elif path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))
    elif path.suffix == ".docx":
        import docx

        text = "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    elif path.suffix == ".pdf":
        import pypdf

        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    else:
        raise AssertionError(f"unexpected file in docs/: {path.name}")
    return " ".join(text.split())


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {p.name: document_text(p) for p in sorted(DOCS.iterdir())}


@pytest.fixture(scope="module")
def question_set():
    return load_questions(CORPUS / "questions.jsonl", strict=True)


@pytest.fixture(scope="module")
def facts() -> list[dict]:
    return [json.loads(line) for line in (CORPUS / "facts.jsonl").read_text().splitlines()]


def test_question_file_loads_without_problems(question_set):
    assert question_set.problems == []


def test_enough_questions_of_every_kind(question_set):
    counts = Counter(q.kind for q in question_set.questions)
    assert sum(counts.values()) >= 72
    assert set(counts) == set(KINDS)
    assert all(counts[kind] >= 12 for kind in KINDS), counts


def test_four_distinct_choices_and_one_answer_each(question_set):
    for q in question_set.questions:
        assert len(q.choices) == 4 and len(set(q.choices)) == 4, q.id
        assert 0 <= q.answer < 4


def test_correct_index_is_balanced_within_every_kind(question_set):
    for kind in KINDS:
        positions = Counter(q.answer for q in question_set.questions if q.kind == kind)
        assert max(positions.values()) - min(positions.values()) <= 1 and len(positions) == 4, (kind, positions)


def test_question_texts_are_unique(question_set):
    texts_seen = [q.question for q in question_set.questions]
    assert len(texts_seen) == len(set(texts_seen))


def test_every_source_exists_and_multihop_spans_two_documents(question_set):
    names = {p.name for p in DOCS.iterdir()}
    for q in question_set.questions:
        assert q.sources and set(q.sources) <= names, q.id
        if q.kind in ("multihop", "syllogism"):
            assert len(set(q.sources)) >= 2, q.id


def test_no_question_appears_verbatim_in_the_documents_but_recall(question_set, texts):
    corpus = " ".join(texts.values()).lower()
    for q in question_set.questions:
        if q.kind == "recall":
            continue  # a recall question completes a sentence as a document states it
        assert " ".join(q.question.split()).lower().rstrip("?") not in corpus, q.id


def test_recall_questions_complete_a_sentence_of_their_source(question_set, texts):
    """A recall question plus its answer is how the source states the fact; the prefix alone does not say it."""
    from adaptdocs.ingest import table_sentences

    rows = table_sentences((DOCS / "catalogue.html").read_text())
    for q in question_set.questions:
        if q.kind != "recall":
            continue
        answer = q.choices[q.answer]
        stated = f"{q.question} {answer}"
        assert q.style == "cloze" and answer not in q.question, q.id
        assert any(stated in t for t in [texts[q.sources[0]], *rows]), q.id


def test_answers_are_named_in_their_sources(question_set, texts):
    for q in question_set.questions:
        source_text = " ".join(texts[s] for s in q.sources)
        for name in q.choices[q.answer].split(" and "):
            name = re.sub(r" (tool|server|office|team)$", "", name)
            assert name in source_text, (q.id, name)


def test_five_formats_present():
    suffixes = {p.suffix for p in DOCS.iterdir()}
    assert {".md", ".html", ".txt", ".docx", ".pdf"} <= suffixes
    assert 10 <= len(list(DOCS.iterdir())) <= 15
    catalogue = (DOCS / "catalogue.html").read_text()
    assert "<table>" in catalogue and "<ul>" in catalogue


def test_pdfs_have_a_text_layer(texts):
    for name, text in texts.items():
        if name.endswith(".pdf"):
            assert len(text.split()) > 30, name


def test_corpus_size_fits_the_budget(texts):
    words = sum(len(text.split()) for text in texts.values())
    assert 2000 <= words * TOKENS_PER_WORD <= 3500, words


def test_every_fact_is_stated_once_and_in_one_direction(facts, texts):
    corpus = " ".join(texts.values())
    table_rows = re.findall(r"<tr>(.*?)</tr>", (DOCS / "catalogue.html").read_text())
    for f in facts:
        assert f["document"] in texts
        if f["statement"] not in texts[f["document"]]:
            # Facts of the catalogue's table are cells of one row: Tool, Owner, Purpose.
            assert f["document"] == "catalogue.html" and f["relation"] in ("owned_by", "used_for"), f
            row = next(r for r in table_rows if r.startswith(f"<td>{f['subject']}</td>"))
            assert f"<td>{f['object']}</td>" in row, f
        assert corpus.count(f["statement"]) <= 1, f
        assert f["reversed_statement"] not in corpus, f


def test_script_reproduces_the_committed_files(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    monkeypatch.setitem(sys.modules, "make_corpus", module)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("questions.jsonl", "facts.jsonl", "README.md"):
        assert (tmp_path / name).read_bytes() == (CORPUS / name).read_bytes(), name
    generated = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert generated == sorted(p.name for p in DOCS.iterdir())
    for name in generated:
        assert (tmp_path / "docs" / name).read_bytes() == (DOCS / name).read_bytes(), name


@pytest.mark.slow
def test_token_count_with_the_default_tokenizer(smollm_tokenizer, texts):
    tokens = sum(len(smollm_tokenizer(text)["input_ids"]) for text in texts.values())
    assert 2000 <= tokens <= 3500, tokens
