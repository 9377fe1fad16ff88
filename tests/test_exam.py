"""The exam: facts and slots, distractors that cannot be right, model-written questions kept only
when verified, the stored exam and its reuse, the CLI, and one real run on the sample corpus."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptdocs.augment_filters import CorpusVocabulary
from adaptdocs.cli import app
from adaptdocs.errors import AdaptdocsError
from adaptdocs.exam import ExamConfig, build_exam, exam_paths, review
from adaptdocs.exam_facts import FactIndex, cloze_reason_to_skip, parse_table_row, read_facts
from adaptdocs.exam_written import check_join, check_reversal, stem
from adaptdocs.questions import load_questions
from adaptdocs.store import Sentence
from adaptdocs.verify import verify
from adaptdocs.workspace import Workspace
from conftest import FakeModel, add_document

# A corpus in other styles than the sample's: pronoun subjects, passive voice, negation, tables.
DOCS = {
    "fleet.md": [
        "The Harrow truck is driven by the Pell crew.",
        "The Ostin truck is driven by the Marle crew.",
        "The Quill truck is driven by the Sarn crew.",
        "The Tobbet truck is driven by the Vey crew.",
        "The Ulmer truck is driven by the Wenn crew.",
        "The Ziller truck is driven by the Yarr crew.",
        "It was repainted by the Marle crew.",
        "The Harrow truck is not driven by the Sarn crew.",
    ],
    "depots.md": [
        "The Pell crew is based in the Ardo depot.",
        "The Marle crew is based in the Brisk depot.",
        "The Sarn crew is based in the Cully depot.",
        "The Vey crew is based in the Ardo depot.",
        "The Wenn crew is based in the Delph depot.",
        "The Yarr crew is based in the Erno depot.",
        "They open at six.",
    ],
    "vans.html": [
        "Van: Kelso. Depot: Ardo. Load: parcels.",
        "Van: Lindy. Depot: Brisk. Load: furniture.",
        "Van: Morro. Depot: Cully. Load: food.",
        "Van: Nesta. Depot: Delph. Load: mail.",
        "Van: Orrin. Depot: Erno. Load: tools.",
    ],
    "people.md": [
        "The Ardo depot was opened by Rina Sol.",
        "The Brisk depot was opened by Tam Oyle.",
        "The Cully depot was opened by Ulla Prent.",
        "The Delph depot was opened by Vik Andor.",
        "The Erno depot was opened by Wim Castel.",
    ],
}


def teacher(write=None, score=None) -> FakeModel:
    """conftest's FakeModel with `write(text)` and `score(context, continuation)` over prefix + prompt."""
    return FakeModel(respond=(lambda prefix, prompt: write(prefix + prompt)) if write else None,
                     score=lambda prefix, context, x: score(prefix + context, x) if score else -1.0)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace(tmp_path / "ws")
    for relpath, sentences in DOCS.items():
        add_document(ws, relpath, sentences)
    return ws


def facts_of(docs: dict[str, list[str]]):
    sentences = [Sentence(f"{doc}:{i}", doc, f"{doc}:e", i, text) for doc, texts in docs.items() for i, text in enumerate(texts)]
    return read_facts(sentences, {doc: doc for doc in docs})


def supported(question: dict, docs: dict[str, list[str]]) -> list[str]:
    """The choices that some document sentence states together with every anchor of the question
    (its capitalised words after the first, and its rare lower-case words)."""
    sentences = [s for texts in docs.values() for s in texts]
    words = question["question"].replace("?", " ").replace(".", " ").replace(":", " ").split()
    anchors = {w for w in words[1:] if w[:1].isupper() and w not in {"Van", "Depot", "Load"}}
    anchors |= {w for w in words if w.islower() and sum(f" {w}" in s for s in sentences) in (1, 2)}
    return [c for c in question["choices"] if any(c.split()[-1] in s and all(a in s for a in anchors) for s in sentences)]


# -- facts, slots, distractors ------------------------------------------------------------------


def test_table_rows_are_parsed_into_labelled_cells():
    assert parse_table_row("Van: Kelso. Depot: Ardo. Load: parcels.") == [
        ("Van", "Kelso", 5, 10), ("Depot", "Ardo", 19, 23), ("Load", "parcels", 31, 38)]
    assert parse_table_row("The Ardo depot was opened by Rina Sol.") is None
    assert parse_table_row("Attendees: all team leads.") is None  # one field is no row


def test_mentions_and_their_slots():
    facts = {f.text: f for f in facts_of(DOCS)}
    fact = facts["The Ardo depot was opened by Rina Sol."]
    assert [(m.text, m.slot) for m in fact.mentions] == [("Ardo", "the _ depot"), ("Rina Sol", "opened by _ .")]
    row = facts["Van: Kelso. Depot: Ardo. Load: parcels."]
    assert row.table and [m.slot for m in row.mentions] == ["label:van", "label:depot", "label:load"]
    assert facts["It was repainted by the Marle crew."].unclear
    assert facts["The Harrow truck is not driven by the Sarn crew."].unclear


def test_a_pronoun_subject_or_a_negation_makes_no_cloze():
    facts = {f.text: f for f in facts_of(DOCS)}
    index = FactIndex(list(facts.values()))
    assert cloze_reason_to_skip(facts["It was repainted by the Marle crew."], 0, index.known) == "unclear_subject_or_negation"
    assert cloze_reason_to_skip(facts["The Harrow truck is not driven by the Sarn crew."], 1, index.known) is not None
    assert cloze_reason_to_skip(facts["The Harrow truck is driven by the Pell crew."], 1, index.known) is None


def test_distractors_never_share_a_sentence_with_the_anchor():
    facts = facts_of(DOCS)
    index = FactIndex(facts)
    harrow = next(f for f in facts if f.text == "The Harrow truck is driven by the Pell crew.")
    pool = index.candidates("Pell", harrow.mentions[1].slot, ["Harrow"])
    # Sarn appears with Harrow (in a negated sentence): not a safe wrong choice.
    assert "Sarn" not in pool and "Pell" not in pool
    assert {"Marle", "Vey", "Wenn", "Yarr"} <= set(pool)
    # A pronoun-led sentence continues its predecessor: Marle is linked to Ziller's sentence.
    assert "Marle" in index.neighbours["Ziller"]


def test_relations_are_followed_transitively_and_membership_both_ways():
    facts = facts_of({"a.md": [
        "The Abel tool is older than the Bron tool.", "The Bron tool is older than the Cade tool.",
        "The Dace tool is older than the Elm tool.", "The Fenn tool is older than the Gart tool.",
        "Hobb is a Kest server.", "Every Kest server is a Lorn machine.", "Every Mull server is a Nast machine.",
        "Every Oake server is a Pell machine.", "Every Quin server is a Rusk machine.",
    ]})
    index = FactIndex(facts)
    abel = facts[0]
    assert index.reachable("Abel", __import__("adaptdocs.exam_facts", fromlist=["frame"]).frame(abel)) == {"Bron", "Cade"}
    assert index.ancestors("Hobb") == {"Kest", "Lorn"}
    # "Which server is a Lorn machine?" must not offer Hobb (a Kest server, so a Lorn machine too).
    assert "Hobb" not in index.candidates("Kest", "_ server", ["Lorn"])


def test_build_by_rule_on_other_styles_has_one_supported_choice_each(ws):
    result = build_exam(ws, ExamConfig(model_written=False, min_questions=10))
    assert result.rebuilt and result.teacher is None
    assert {"recall", "reversal", "rephrase", "aggregation"} <= set(result.by_kind)
    records = [json.loads(line) for line in result.path.read_text().splitlines()]
    for q in records:
        assert len(q["choices"]) == 4 and len(set(q["choices"])) == 4
        assert q["made_by"] in ("cloze", "template") and q["evidence"] and q["sources"]
        if q["kind"] != "aggregation":
            assert supported(q, DOCS) == [q["choices"][q["answer"]]], q
    texts = {q["question"] for q in records}
    assert "The Harrow truck is driven by the" in texts
    assert "Which truck is driven by the Pell crew?" in texts
    assert "What is the depot of the van Kelso?" in texts and "Which van has the load parcels?" in texts
    assert not any(t.startswith(("It ", "They ")) for t in texts)
    assert not any("not" in t.split() for t in texts)
    aggregation = next(q for q in records if q["kind"] == "aggregation")
    assert aggregation["choices"][aggregation["answer"]] == "Pell and Vey"  # the crews based in the Ardo depot


def test_answer_positions_are_balanced_and_the_build_is_deterministic(ws, tmp_path):
    first = build_exam(ws, ExamConfig(model_written=False, min_questions=10))
    text = first.path.read_text()
    positions = [q.answer for q in first.questions if q.kind == "recall"]
    assert max(positions.count(i) for i in range(4)) - min(positions.count(i) for i in range(4)) <= 1
    again = build_exam(ws, ExamConfig(model_written=False, min_questions=10, force=True))
    assert again.path.read_text() == text
    other_seed = build_exam(ws, ExamConfig(model_written=False, min_questions=10, seed=1))
    assert other_seed.path.read_text() != text


def test_exam_size_keeps_every_kind(ws):
    result = build_exam(ws, ExamConfig(model_written=False, size=12, min_questions=10))
    assert result.n == 12 and len(result.by_kind) == 4


# -- model-written questions ---------------------------------------------------------------------

TRUE_STATEMENTS = {
    "the Pell crew drives the Harrow truck.",
    "the Harrow truck is driven by a crew that is based in the Ardo depot.",
}


def scripted_writer(prompt: str) -> str:
    """Right reversals and joins for the Harrow truck; a names-swapped copy for every other prompt."""
    last = prompt.rstrip().splitlines()[-1]
    if last == "Again: The Pell crew":
        return " drives the Harrow truck."
    if last == "Joined: The Harrow truck is driven by a crew that":
        return " is based in the Ardo depot."
    if last.startswith("Again: The Marle crew"):
        return " drives the Ostin truck."  # right, but the scorer below will not support it
    if last.startswith("Again: "):
        return " is driven by the truck."
    return " nothing."


def truth_scorer(context: str, continuation: str) -> float:
    """Scores 0 for a true statement after its facts, -5 for anything else."""
    return 0.0 if "Facts: The" in context and continuation.strip() in TRUE_STATEMENTS else -5.0


def test_written_statements_become_questions_only_when_verified(ws):
    model = teacher(scripted_writer, truth_scorer)
    result = build_exam(ws, ExamConfig(min_questions=10), model=model)
    assert result.teacher == "fake"
    by_model = [q for q in result.questions if q.made_by == "model:fake"]
    texts = {(q.kind, q.style, q.question, q.choices[q.answer]) for q in by_model}
    assert texts == {
        ("reversal", "cloze", "The Pell crew drives the", "Harrow"),
        ("rephrase", "question", "Which crew drives the Harrow truck?", "Pell"),
        ("multihop", "cloze", "The Harrow truck is driven by a crew that is based in the", "Ardo"),
        ("multihop", "question", "Which truck is driven by a crew that is based in the Ardo depot?", "Harrow"),
    }
    multihop = next(q for q in by_model if q.kind == "multihop" and q.style == "cloze")
    assert sorted(multihop.sources) == ["depots.md", "fleet.md"]
    # The other Ardo crew's truck is right too: never a distractor of the backward question.
    backward = next(q for q in by_model if q.kind == "multihop" and q.style == "question")
    assert "Tobbet" not in backward.choices
    yields = result.yields
    assert yields["reversal+rephrase by model"]["dropped"]["not_verified"] == 1  # Marle: written right, not supported
    assert yields["reversal+rephrase by model"]["dropped"]["names_changed"] >= 1
    assert len(model.score_calls) > 0 and len(model.prompts) == yields["reversal+rephrase by model"]["candidates"] + yields["multihop by model"]["candidates"]


def test_verify_keeps_a_supported_statement_and_says_why_not_otherwise():
    model = teacher(score=truth_scorer)
    sources = ["The Harrow truck is driven by the Pell crew."]
    ok = verify(model, "The Pell crew drives the Harrow truck.", sources,
                ["The Pell crew drives the Ostin truck.", "The Harrow crew drives the Pell truck."], margin=1.0)
    assert ok.ok and ok.margin == 5.0 and "beats 2 corruptions" in ok.reason
    bad = verify(model, "The Pell crew drives the Ostin truck.", sources, ["The Pell crew drives the Harrow truck."], 1.0)
    assert not bad.ok and "Harrow truck" in bad.reason and bad.margin == -5.0


def test_reversal_and_join_checks():
    facts = {f.text: f for f in facts_of(DOCS)}
    vocabulary = CorpusVocabulary(s for texts in DOCS.values() for s in texts)
    harrow = facts["The Harrow truck is driven by the Pell crew."]
    assert check_reversal("The Pell crew drives the Harrow truck.", harrow, vocabulary, set()).kind == "reversal"
    assert check_reversal("The Pell crew is driven by the Harrow truck.", harrow, vocabulary, set()) == "names_swapped_copy"
    assert check_reversal("The Pell crew paints the Harrow truck.", harrow, vocabulary, set()) == "new_words"
    assert check_reversal("The Harrow truck drives the Pell crew.", harrow, vocabulary, set()) == "not_reversed"
    assert check_reversal("The Pell crew is the only one that drives the Harrow truck.", harrow, vocabulary,
                          {"one"}) == "claim_word_added"
    assert check_reversal("The Pell crew drives the Harrow truck. It is red.", harrow, vocabulary, set()) == "not_one_sentence"
    depot = facts["The Pell crew is based in the Ardo depot."]
    index = FactIndex(list(facts.values()))
    joined = check_join("The Harrow truck is driven by a crew that is based in the Ardo depot.", harrow, depot,
                        vocabulary, index, set())
    assert joined.kind == "multihop" and "Pell" in joined.excluded
    assert check_join("The Harrow truck is based in the Ardo depot.", harrow, depot, vocabulary, index, set()) == "relation_words_lost"
    assert stem("leader") == stem("led") == "lead" and stem("owner") == stem("owned") == "own"


# -- the stored exam ------------------------------------------------------------------------------


def test_exam_is_reused_until_the_corpus_changes(ws):
    model = teacher(scripted_writer, truth_scorer)
    first = build_exam(ws, ExamConfig(min_questions=10), model=model)
    calls = len(model.prompts)
    meta = json.loads(exam_paths(ws)[1].read_text())
    assert meta["key"]["corpus_hash"] == ws.store.corpus_hash()
    assert set(meta["key"]["templates"]) == {"exam_questions", "exam_reversal", "exam_multihop", "exam_verify"}
    again = build_exam(ws, ExamConfig(min_questions=10), model=lambda: pytest.fail("no model is needed"))
    assert not again.rebuilt and again.n == first.n and len(model.prompts) == calls
    assert [q.id for q in again.questions] == [q.id for q in first.questions]
    add_document(ws, "more.md", ["The Pell crew is led by Ada Finch."])
    changed = build_exam(ws, ExamConfig(min_questions=10), model=model)
    assert changed.rebuilt and len(model.prompts) > calls


def test_a_hand_edited_exam_is_kept_aside_before_a_rebuild(ws):
    result = build_exam(ws, ExamConfig(model_written=False, min_questions=10))
    lines = result.path.read_text().splitlines()
    result.path.write_text("\n".join(lines[1:]) + "\n")
    build_exam(ws, ExamConfig(model_written=False, min_questions=10, force=True))
    edited = result.path.with_name("questions.edited.jsonl")
    assert edited.exists() and len(edited.read_text().splitlines()) == len(lines) - 1


def test_the_exam_loads_as_a_question_set_with_made_by(ws):
    result = build_exam(ws, ExamConfig(model_written=False, min_questions=10))
    loaded = load_questions(result.path, strict=True)
    assert loaded.problems == [] and all(q.made_by in ("cloze", "template") for q in loaded.questions)
    assert summary_mentions_every_kind(result)


def summary_mentions_every_kind(result) -> bool:
    text = result.summary()
    return "generated" in text and all(f"{kind} {n}" in text for kind, n in result.by_kind.items())


def test_questions_without_made_by_still_load(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Q?", "choices": ["a", "b"], "answer": 0, "kind": "recall"}\n'
                    '{"question": "R?", "choices": ["a", "b"], "answer": 1, "kind": "recall", "made_by": 3}\n')
    loaded = load_questions(path)
    assert loaded.questions[0].made_by is None
    assert loaded.problems == ["line 2: 'made_by' must be a non-empty string, skipped"]


def test_empty_workspace_and_too_small_corpus(tmp_path):
    empty = Workspace(tmp_path / "empty")
    with pytest.raises(AdaptdocsError, match="holds no documents"):
        build_exam(empty, ExamConfig(model_written=False))
    small = Workspace(tmp_path / "small")
    add_document(small, "a.md", ["The Harrow truck is driven by the Pell crew.", "The Ostin truck is driven by the Marle crew."])
    with pytest.raises(AdaptdocsError, match=r"makes only \d+ exam questions .* at least 20") as error:
        build_exam(small, ExamConfig(), model=teacher())
    assert "--questions" in str(error.value) and "ingest more documents" in str(error.value)
    assert not exam_paths(small)[0].exists()


def test_exam_templates_use_no_sample_corpus_names():
    corpus = Path(__file__).resolve().parent.parent / "sample_corpus" / "facts.jsonl"
    if not corpus.exists():
        pytest.skip("no sample corpus")
    names = set()
    for line in corpus.read_text().splitlines():
        fact = json.loads(line)
        names |= {w for w in f"{fact['subject']} {fact['object']}".split() if w[:1].isupper()}
    templates = Path(__file__).resolve().parent.parent / "templates"
    for name in ("exam_reversal", "exam_multihop", "exam_questions", "exam_verify"):
        text = (templates / f"{name}.toml").read_text()
        assert not {n for n in names if f" {n} " in text or f" {n}." in text}, name


# -- CLI --------------------------------------------------------------------------------------------


def test_cli_build_and_show(ws):
    runner = CliRunner()
    result = runner.invoke(app, ["questions", "build", "-w", str(ws.root), "--no-model", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rebuilt"] and data["n"] == sum(data["by_kind"].values()) and "generated" in data["summary"]
    result = runner.invoke(app, ["questions", "build", "-w", str(ws.root), "--no-model"])
    assert result.exit_code == 0 and "reused" in result.output and "recall" in result.output
    result = runner.invoke(app, ["questions", "show", "-w", str(ws.root), "--kind", "reversal", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "✓" in result.output and "Which" in result.output and "Questions (3)" in result.output
    shown = json.loads(runner.invoke(app, ["questions", "show", "-w", str(ws.root), "--json", "--kind", "recall"]).stdout)
    assert shown and all(q["kind"] == "recall" and q["evidence"] for q in shown)
    own = ws.root / "mine.jsonl"
    own.write_text(json.dumps({"question": "Which crew drives the Harrow truck?", "choices": ["Pell", "Marle"],
                               "answer": 0, "kind": "rephrase"}) + "\n")
    mine = json.loads(runner.invoke(app, ["questions", "show", "-w", str(ws.root), "--file", str(own), "--json"]).stdout)
    assert mine[0]["made_by"] is None and mine[0]["evidence"] == []


def test_cli_show_without_an_exam_says_what_to_do(ws):
    with pytest.raises(AdaptdocsError, match="questions build"):
        review(ws)


# -- the real default model --------------------------------------------------------------------------


@pytest.mark.slow
def test_default_model_builds_an_exam_on_the_sample_corpus(tmp_path):
    from adaptdocs.config import IngestConfig
    from adaptdocs.ingest import ingest_paths

    docs = Path(__file__).resolve().parent.parent / "sample_corpus" / "docs"
    ws = Workspace(tmp_path / "ws")
    ingest_paths(ws, [docs], IngestConfig(workers=1))
    result = build_exam(ws, ExamConfig(max_written=2, batch_size=16))
    assert result.n >= 60 and len(result.by_kind) >= 3, result.by_kind
    assert result.teacher == "SmolLM2-135M-Instruct"
    assert result.yields["reversal+rephrase by model"]["candidates"] == 2
    assert not build_exam(ws, ExamConfig(max_written=2, batch_size=16), model=lambda: pytest.fail("reused")).rebuilt
    rng = random.Random(0)
    for q in rng.sample(result.questions, 10):
        assert len(set(q.choices)) == 4 and q.sources
