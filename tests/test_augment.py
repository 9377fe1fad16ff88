"""Augmentation: parsing, filters, provenance, export, resume, staleness, dry run, CLI, a real kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from adaptdocs.augment import LOCAL_TEMPLATES, augment, corpus_windows, linked_facts, worked_examples
from adaptdocs.augment_comparisons import COMPARISON_TEMPLATE
from adaptdocs.augment_filters import (
    CorpusVocabulary,
    StatementFilter,
    WorkedExamples,
    statement_order,
    pair_reason_to_drop,
    split_question_answers,
    split_statements,
)
from adaptdocs.cli import app
from adaptdocs.config import AugmentConfig
from adaptdocs.templates import load_template
from adaptdocs.workspace import Workspace
from conftest import FakeModel, add_document

DOCS = {
    "tools.md": [
        "The Plosk tool is owned by the Mubadra team.",
        "The Osk tool is faster than the Lagle tool.",
        "Tool: Krimbo. Owner: Ispaneth.",
    ],
    "teams.md": [
        "The Mubadra team sits in the Vostra building.",
        "Every data tool is reviewed by the security board.",
    ],
}


@pytest.fixture
def ws(tmp_path):
    ws = Workspace(tmp_path / "ws")
    for relpath, sentences in DOCS.items():
        add_document(ws, relpath, sentences)
    return ws


def reverse_or_echo(prefix: str, prompt: str) -> str:
    """Reversals for the ownership sentence, and a copy of the input for every other prompt."""
    line = prompt.strip().splitlines()[0]
    if "Plosk tool is owned" in line and prompt.rstrip().endswith("Reversed:"):
        return " The Mubadra team owns the Plosk tool.\n"
    if "Plosk tool is owned" in line and prefix.startswith("For each fact"):
        return "Q: Which team owns the Plosk tool? A: Mubadra.\nQ: Which team owns the Plosk tool? A: Lagle."
    if "Osk tool is faster" in line and prefix.startswith("For each fact"):
        # Without both names a comparison's answer cannot be checked: only the second pair is kept.
        return "Q: Which tool is faster? A: Lagle.\nQ: Which is faster, the Osk tool or the Lagle tool? A: Osk."
    return " " + line.split(":", 1)[-1].strip()


def local(**kw) -> AugmentConfig:
    """Local augmentation; verification and resampling off unless asked (a FakeModel scores only
    when given a score)."""
    return AugmentConfig(strategy="local", **{"verify": False, "resample": 0, **kw})


# -- parsing and filters ------------------------------------------------------------


def test_split_statements_strips_bullets_and_splits_sentences():
    out = "- The A tool is big. The B tool is small.\n2. The C tool is new!\n\n* trailing fragment"
    assert split_statements(out) == ["The A tool is big.", "The B tool is small.", "The C tool is new!", "trailing fragment"]


CORPUS = [s for sentences in DOCS.values() for s in sentences]


@pytest.mark.parametrize(
    "statement, reason",
    [
        ("", "empty"),
        ("Plosk is owned.", "too_short"),
        (("The Plosk tool is owned by the Mubadra team " * 8).strip() + ".", "too_long"),
        ("The Mubadra team owns the Plosk", "incomplete"),
        ("the plosk tool is owned by the mubadra team.", "copy"),
        ("The Mubadra tool is owned by the Plosk team.", "copy"),  # same words, entities swapped
        ("The Mubadra team sits in the Vostra building.", "copy"),  # another corpus sentence
        ("The Brannic team owns the Zelkor tool.", "example_echo"),
        ("The Mubadra team owns the Zorbly tool.", "invented_names"),
        ("The team owns the tool named in the catalogue.", "lost_names"),
        ("The Mubadra team owns the Lagle tool.", "foreign_names"),
        ("The Mubadra team owns the tool.", "missing_names"),
        ("The Plosk tool is owned by the Mubadra team, and it is new.", "copy"),
        ("The Mubadra team is the owner of the Plosk tool.", None),
    ],
)
def test_filter_reasons(statement, reason):
    vocabulary = CorpusVocabulary(CORPUS)
    filt = StatementFilter(vocabulary, CORPUS, single_source=True)
    examples = WorkedExamples(worked_examples(load_template("augment_reverse")), vocabulary)
    assert filt.reason_to_drop(statement, CORPUS[0], examples) == reason


def test_filter_duplicates_and_near_duplicates():
    filt = StatementFilter(CorpusVocabulary(CORPUS), CORPUS)
    kept, dropped = filt.keep(
        [
            "The Mubadra team owns the Plosk tool.",
            "The Mubadra team owns the Plosk tool!",
            "The Plosk tool the Mubadra team owns.",
            "Mubadra, as a team, owns the Plosk tool today.",
        ],
        CORPUS[0],
    )
    assert kept == ["The Mubadra team owns the Plosk tool.", "Mubadra, as a team, owns the Plosk tool today."]
    assert dropped == {"duplicate": 1, "near_duplicate": 1}


def test_a_question_that_names_nothing_must_pick_out_its_sentence():
    corpus = CORPUS + ["Project: Naquesh. Status: behind.", "Project: Korrimat. Status: on track.",
                       "Vendrak is a tool for data analysis."]
    filt = StatementFilter(CorpusVocabulary(corpus), corpus, single_source=True)
    assert filt.asks_too_little("What is the status of the project?")  # two records say "project" and "status"
    assert not filt.asks_too_little("Which tool is used for data analysis?")  # one sentence: Vendrak's
    assert not filt.asks_too_little("What is the status of the Naquesh project?")  # it names what it asks about


def test_unlinked_names_are_dropped_for_global_statements():
    vocabulary = CorpusVocabulary(CORPUS)
    filt = StatementFilter(vocabulary, CORPUS)
    source = " ".join(DOCS["teams.md"])
    assert filt.reason_to_drop("The Plosk tool is owned by a team in the Vostra building.", source) is None
    assert filt.reason_to_drop("The Mubadra team owns the Krimbo tool.", source) == "unlinked_names"
    assert filt.reason_to_drop("The Mubadra team is larger than the Mubadra team.", source) == "self_relation"
    assert filt.reason_to_drop("The Plosk tool is older than the Vostra building.", source) == "invented_comparison"


@pytest.mark.parametrize(
    "statement, source, reason",
    [
        # A name given a kind the corpus never gives it, while it gives it another.
        ("The Mubadra team owns the Plosk team.", 0, "wrong_kind"),
        ("The Plosk tool belongs to the Mubadra team.", 0, None),
        # A "not" lost or added turns the statement around.
        ("Accounts are closed after ninety days of use.", 5, "negation_changed"),
        ("Accounts are closed when nobody uses them for ninety days.", 5, None),
        ("The Plosk tool is not owned by the Mubadra team.", 0, "negation_changed"),
        # A small model's loop, or a kind handed to both names.
        ("By the end of the week is the end of the week.", 6, "repetition"),
        ("By the end of the week, one small change should be shipped.", 6, None),
        # A ranking no single fact makes.
        ("The Mubadra team owns the oldest tool, Plosk.", 0, "invented_comparison"),
        # The same verb between the same names, turned around ("owned by" → "owns" keeps the order).
        ("The Plosk tool owns the Mubadra team.", 0, "wrong_direction"),
        (statement_order("Who owns the Mubadra team?", "The Plosk tool."), 0, "wrong_direction"),
        (statement_order("Which team owns the Plosk tool?", "Mubadra."), 0, None),
        (statement_order("Who is the Plosk tool owned by?", "The Mubadra team."), 0, None),
        # One sentence restated keeps its relation: "owned by" is no "bought by".
        ("The Plosk tool was bought by the Mubadra team.", 0, "relation_changed"),
        (statement_order("Which team bought the Plosk tool?", "Mubadra."), 0, "relation_changed"),
        ("The Dorrel devices include Kelm.", 7, None),  # a membership, in other words
        # A passive without its agent is a passive: "is run from" read back as "run by" is wrong.
        (statement_order("Who is the Vostra building run by?", "The Osk tool."), 10, "wrong_direction"),
        ("The Vostra building runs the Osk tool.", 10, None),
        # A record's label names the role of the value after it: Ispaneth owns Krimbo.
        ("The Krimbo tool is the owner of Ispaneth.", 2, "wrong_direction"),
        ("Ispaneth is the owner of the Krimbo tool.", 2, None),
        # A membership keeps its direction: the group first only with "include", "one of", ...
        ("The Dorrel device is a kind of Kelm.", 7, "wrong_direction"),
        ("Every Kelm tool is the Dorrel device.", 7, "wrong_direction"),
        ("Dorrel devices include Kelm.", 7, None),
        (statement_order("What is Kelm?", "A Dorrel device."), 7, None),
        (statement_order("Which tool is a Dorrel device?", "Kelm."), 7, None),
        # "What is X? Y." needs a source that says X is Y, not another relation between them.
        (statement_order("Who is the Mubadra team?", "The Plosk tool."), 0, "unsupported_identity"),
        (statement_order("Which is Ispaneth?", "Krimbo."), 2, "unsupported_identity"),
        # A comparison between two names stays one.
        (statement_order("Who owns the Lagle tool?", "The Osk tool."), 1, "lost_comparison"),
        ("The Lagle tool is slower than the Osk tool.", 1, None),
        ("The Osk tool is as reliable as the Krimbo tool.", 9, "lost_comparison"),  # "more reliable than"
        (statement_order("Which is more reliable, the Osk tool or the Krimbo tool?", "Osk."), 9, None),
        # A membership needs a source that says what group a thing is of; a name is capitalised.
        ("The Mubadra team is a member of the Vostra building.", 3, "unsupported_membership"),
        ("Kelm is a member of the Dorrel devices.", 7, None),
        ("The mubadra team owns the Plosk tool.", 0, "lowercased_name"),
        # A hedge dropped claims more than the source; "only" added claims something else.
        ("Access to the Plosk tool is granted within two days.", 8, "qualifier_changed"),
        ("The Plosk tool is owned only by the Mubadra team.", 0, "qualifier_changed"),
    ],
)
def test_filters_catch_what_turns_a_statement_false(statement, source, reason):
    corpus = CORPUS + ["Accounts that are not used for ninety days are closed.",
                       "By the end of the week you should have shipped one small change.",
                       "Kelm is a Dorrel device.", "Access to the Plosk tool is usually granted within two days.",
                       "The Osk tool is more reliable than the Krimbo tool.", "The Osk tool is run from the Vostra building."]
    filt = StatementFilter(CorpusVocabulary(corpus), corpus, single_source=True)
    assert filt.reason_to_drop(statement, corpus[source], covers_source=False) == reason


def test_a_join_keeps_the_negation_of_the_fact_it_restates_and_names_no_thing_after_itself():
    facts = ["The Vostra building is small, but it is warmer than the Osk building.",
             "The Vostra building is used by the Mubadra team, so it will not be lent to others.",
             "Most of its desks are near, so it is run from the Vostra building."]
    filt = StatementFilter(CorpusVocabulary(facts), facts)
    assert filt.reason_to_drop("The Vostra building is lent to others.", " ".join(facts[:2])) == "negation_changed"
    assert filt.reason_to_drop("The Vostra building is warmer than the Osk building, and small.", " ".join(facts[:2])) is None
    assert filt.reason_to_drop("The Vostra building is run from the Vostra building.", facts[2]) == "self_relation"


@pytest.mark.parametrize(
    "statement, reason",
    [
        ("The Lagle tool is slower than the Osk tool.", None),
        ("The Lagle tool is faster than the Osk tool.", "copy"),
        ("The Lagle tool is older than the Osk tool.", "wrong_comparison"),
        ("The Osk tool is slower than the Lagle tool.", "wrong_comparison"),
        ("The Osk tool runs faster than the Lagle tool does.", None),
    ],
)
def test_comparisons_must_flip_with_their_names(statement, reason):
    filt = StatementFilter(CorpusVocabulary(CORPUS), CORPUS, single_source=True)
    assert filt.reason_to_drop(statement, CORPUS[1]) == reason


def test_split_question_answers():
    output = "Q: Which team owns the Plosk tool? A: Mubadra.\nQ: Which tool is owned by the Mubadra team? A: Plosk\nnoise"
    assert split_question_answers(output) == [
        ("Which team owns the Plosk tool?", "Mubadra."),
        ("Which tool is owned by the Mubadra team?", "Plosk."),
    ]


@pytest.mark.parametrize(
    "question, answer, source, reason",
    [
        ("Which team owns the Plosk tool?", "Mubadra.", 0, None),
        ("Which tool is owned by the Mubadra team?", "Plosk.", 0, None),
        ("Which team owns the Plosk tool?", "Lagle.", 0, "foreign_names"),
        ("Which is faster, the Osk tool or the Lagle tool?", "Osk.", 1, None),
        ("Which is faster, the Osk tool or the Lagle tool?", "Lagle.", 1, "wrong_comparison"),
        ("Which tool is slower than the Osk tool?", "Lagle.", 1, None),
        ("Which tool is slower than the Osk tool?", "Osk.", 1, "self_relation"),
        ("Who owns Krimbo?", "Ispaneth.", 2, None),  # one pair need not name all of a table row
    ],
)
def test_question_answer_pairs_are_checked_statement_order(question, answer, source, reason):
    filt = StatementFilter(CorpusVocabulary(CORPUS), CORPUS, single_source=True)
    assert filt.reason_to_drop(statement_order(question, answer), CORPUS[source], covers_source=False) == reason


@pytest.mark.parametrize(
    "question, answer, reason",
    [
        ("Who leads the Dolvane team?", "Nimra Sesh.", None),
        ("Who is Nimra Sesh?", "Nimra Sesh.", "answer_in_question"),
        ("What is the Skelvy machine?", "A Skelvy.", "answer_in_question"),
        ("How many tools does the Dolvane team have?", "12.", "answer_not_in_source"),
        ("How many Dolvane teams are there?", "Nimra Sesh.", "count_without_number"),
    ],
)
def test_question_answer_pairs_must_answer_from_the_source(question, answer, reason):
    assert pair_reason_to_drop(question, answer, "The Dolvane team is led by Nimra Sesh.") == reason


def test_what_a_name_has_is_not_said_of_the_name():
    source = "The Tivvaro station's canteen now opens at eight."
    corpus = [source, "The Tivvaro station is in the hills.", "The backup of the Krimbo server runs every night."]
    filt = StatementFilter(CorpusVocabulary(corpus), corpus, single_source=True)
    assert filt.reason_to_drop("The Tivvaro station opens at eight now.", source) == "lost_possessed"
    assert filt.reason_to_drop(statement_order("Which station now opens at eight?", "Tivvaro."), source,
                               covers_source=False) == "lost_possessed"
    assert filt.reason_to_drop("The canteen of the Tivvaro station opens at eight now.", source) is None
    assert filt.reason_to_drop("The Tivvaro station opens at eight now.", "The canteen at the Tivvaro station now opens at eight.") \
        == "lost_possessed"
    # Said in other words, it may be another thing: not this rule's to judge.
    backup = corpus[2]
    assert filt.reason_to_drop("The Krimbo server is backed up every night.", backup) is None
    # Nobody in a sentence about a named thing is "you"; an instruction speaks to one.
    assert filt.reason_to_drop(statement_order("Which canteen do you open at eight?", "Tivvaro."), source,
                               covers_source=False) == "invented_person"
    instruction = "Book the Tivvaro station in the logbook before use."
    assert filt.reason_to_drop(statement_order("Where must you book the Tivvaro station before use?", "In the logbook."),
                               instruction, covers_source=False) != "invented_person"


def test_a_restatement_makes_no_thing_another_that_its_sentence_does_not():
    corpus = ["Throdd instruments contain a strong laser.", "Hessiver belongs to the Vantrel series.",
              "The Zarnoth team is led by Obrent Lusk.", "Krimbo, a billing tool, is owned by the Zarnoth team."]
    filt = StatementFilter(CorpusVocabulary(corpus), corpus, single_source=True)
    assert filt.reason_to_drop("The laser is a Throdd instrument.", corpus[0]) == "invented_identity"
    assert filt.reason_to_drop("A strong laser is contained in Throdd instruments.", corpus[0]) is None
    assert filt.reason_to_drop("Hessiver is a Vantrel instrument.", corpus[1]) is None  # belonging says it
    assert filt.reason_to_drop("Obrent Lusk is the leader of the Zarnoth team.", corpus[2]) is None
    assert filt.reason_to_drop("Krimbo is a billing tool.", corpus[3], covers_source=False) is None


def test_a_class_is_answered_as_a_class():
    source = "Every Yoppel server is a Dunmoor machine."
    assert pair_reason_to_drop("Which is a Dunmoor machine?", "Yoppel.", source) == "lost_quantifier"
    assert pair_reason_to_drop("Which servers are Dunmoor machines?", "Yoppel servers.", source) is None
    assert pair_reason_to_drop("What is a Dunmoor machine?", "A Yoppel server.", source) == "lost_quantifier"
    assert pair_reason_to_drop("What is every Yoppel server?", "A Dunmoor machine.", source) is None
    assert pair_reason_to_drop("What is the Orrin induction?", "A course that all staff must complete.",
                               "All staff must complete the Orrin induction, a course of two days.") is None


def test_names_ignore_sentence_initial_common_words():
    vocabulary = CorpusVocabulary(CORPUS)
    assert vocabulary.names("Tool: Krimbo. Owner: Ispaneth.") == {"Krimbo", "Ispaneth"}
    assert vocabulary.names("Every data tool is reviewed by the security board.") == set()
    assert vocabulary.invented("Therefore the Plosk tool is reviewed.") == set()


def test_templates_use_no_sample_corpus_names():
    """The worked examples must be generic: none of the development corpora's names."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    names = set()
    for corpus in (root / "sample_corpus" / "facts.jsonl", root / "benchmarks" / "corpora" / "ondravel" / "facts.jsonl"):
        for line in corpus.read_text().splitlines():
            fact = json.loads(line)
            names |= {w for w in f"{fact['subject']} {fact['object']}".split() if w[:1].isupper()}
    for name in ("augment_rephrase", "augment_reverse", "augment_reverse_comparison", "augment_infer", "augment_question",
                 "augment_global", "augment_list", "augment_chain"):
        text = load_template(name).text
        assert not {n for n in names if f" {n} " in text or f" {n}." in text}, name


# -- flow, provenance, export ------------------------------------------------------------


def test_local_keeps_reversal_with_provenance_and_exports(ws):
    model = FakeModel(reverse_or_echo)
    summary = augment(ws, local(), model=model)
    data = summary.as_dict()["strategies"]["local"]
    assert data["items"]["done"] == 4 * 4 + 1  # the record "Tool: Krimbo. Owner: Ispaneth." by rule alone
    assert data["kept"] == {"augment_infer": 0, "augment_question": 2, "augment_rephrase": 0, "augment_reverse": 1,
                            "augment_reverse_comparison": 0, "augment_record": 0, "augment_record:question": 1,
                            "augment_record:reverse_question": 1, "augment_record:statement": 1,
                            # the comparison turned around by rule, and asked both ways
                            "augment_reverse_comparison:statement": 1, "augment_reverse_comparison:question": 2}
    dropped = data["dropped"]  # per "template:reason"
    assert sum(n for key, n in dropped.items() if key.endswith(":copy")) >= 10
    assert dropped["augment_question:answer_not_in_source"] >= 1
    assert sum(n for key, n in dropped.items() if key.endswith(":missing_names")) >= 1
    # A kept question-answer pair is stored in the form `compare` asks its questions in.
    [pair, _] = sorted((r for r in ws.store.examples("local") if r["template"] == "augment_question"),
                       key=lambda r: "Plosk" not in r["text"])
    assert pair["text"] == load_template("eval_question").render(question="Which team owns the Plosk tool?") + " Mubadra."
    records = {r["text"] for r in ws.store.examples("local") if r["template"].startswith("augment_record")}
    ask = load_template("eval_question").render
    assert records == {"The owner of the Krimbo tool is Ispaneth.", ask(question="What is the owner of the Krimbo tool?") + " Ispaneth.",
                       ask(question="Which tool has Ispaneth as its owner?") + " Krimbo."}
    [row] = [r for r in ws.store.examples("local") if r["template"] == "augment_reverse"]
    assert row["text"] == "The Mubadra team owns the Plosk tool."
    assert row["template"] == "augment_reverse" and row["model"] == "fake" and row["seed"] == 0
    sentence = ws.store.sentences()[[s.text for s in ws.store.sentences()].index(CORPUS[0])]
    assert json.loads(row["source_sentence_ids"]) == [sentence.id]
    assert json.loads(row["source_document_ids"]) == [sentence.document_id]
    assert json.loads(row["settings"])["temperature"] == 0.0
    # The few-shot examples are the shared prefix, and every prompt stops at the line end.
    assert all(c["prefix"].startswith(("Each fact", "Each comparison", "From each", "For each")) for c in model.calls)
    assert all(c["stop"] == load_template(n).stop for c in model.calls for n in LOCAL_TEMPLATES if c["prefix"].startswith(
        load_template(n).text[:12]))

    import datasets

    export = data["export"]
    loaded = datasets.load_dataset("json", data_files=export, split="train")
    exported = {r["template"]: r for r in loaded if "Osk tool" not in r["text"]}
    assert exported["augment_reverse"]["text"] == "The Mubadra team owns the Plosk tool."
    assert exported["augment_reverse"]["source_ids"] == [sentence.id]
    assert exported["augment_question"]["text"] == pair["text"]
    assert set(loaded.column_names) >= {"text", "strategy", "template", "source_ids", "model", "source_document_ids"}


def test_a_question_the_corpus_answers_with_more_names_than_the_answer_gives_is_dropped(tmp_path):
    ws = Workspace(tmp_path / "ws")
    add_document(ws, "projects.md", ["The Drobbelin project is funded by the Voluvant Foundation.",
                                     "Vessapine receives its money from the Voluvant Foundation.",
                                     "The Vessapine project counts insects.", "The Vessapine project is run by Tesmira Quarrendt."])

    def ask(prefix: str, prompt: str) -> str:
        if prefix.startswith("For each") and "Drobbelin project is funded" in prompt:
            return ("Q: Which project is funded by the Voluvant Foundation? A: Drobbelin.\n"  # Vessapine too
                    "Q: Who funds the Drobbelin project? A: The Voluvant Foundation.")
        return " " + prompt.strip().splitlines()[0].split(":", 1)[-1].strip()

    summary = augment(ws, local(), model=FakeModel(ask)).strategies["local"]
    assert summary.dropped["augment_question:several_answers"] == 1
    pairs = [r["text"] for r in ws.store.examples("local") if r["template"] == "augment_question"]
    assert len(pairs) == 1 and pairs[0].endswith(" The Voluvant Foundation.")


def test_resume_skips_done_items_and_limit(ws):
    first = FakeModel(reverse_or_echo)
    s1 = augment(ws, local(limit=4), model=first).strategies["local"]
    assert (s1.done, s1.left_by_limit) == (4, 13)
    second = FakeModel(reverse_or_echo)
    s2 = augment(ws, local(), model=second).strategies["local"]
    assert (s2.done, s2.skipped) == (13, 4)
    assert len(second.prompts) == 11  # the record and the comparison are written by rule
    assert not set(second.prompts) & set(first.prompts)
    third = FakeModel(reverse_or_echo)
    s3 = augment(ws, local(), model=third).strategies["local"]
    assert (s3.done, s3.skipped, third.calls) == (0, 17, [])
    # One reversal, two question-answer pairs, three of the record, three of the comparison.
    assert len(ws.store.examples("local")) == 9


def test_changed_document_redoes_only_its_items(ws):
    augment(ws, AugmentConfig(strategy="both", verify=False, resample=0), model=FakeModel(reverse_or_echo))
    ws.store.delete_document("/docs/teams.md")
    add_document(ws, "teams.md", ["The Mubadra team sits in the Orsk building."])
    model = FakeModel(reverse_or_echo)
    summary = augment(ws, AugmentConfig(strategy="both", verify=False, resample=0), model=model)
    loc, glob = summary.strategies["local"], summary.strategies["global"]
    assert (loc.stale_removed, loc.done, loc.skipped) == (8, 4, 9)
    # Global items depend on the whole corpus: every one is stale (a document each, and the two
    # implications by rule of Plosk tool → Mubadra team → its building).
    assert (glob.stale_removed, glob.done, glob.skipped) == (4, 4, 0)
    assert len(ws.store.augment_items("local")) == 13


def test_sentences_greedy_kept_nothing_of_get_sampled_question_answer_pairs(ws):
    def respond(prefix, prompt):  # greedy writes nothing usable; sampling answers one question right
        line = prompt.strip().splitlines()[0]
        if "Mubadra team sits" in line and prefix.startswith("For each fact") and respond.temperature > 0:
            # The second pair says what its sentence does not: sampling's inventions are dropped.
            return "Q: Which building does the Mubadra team sit in? A: Vostra.\nQ: Which team sits in the Vostra building every day? A: Mubadra."
        return ""

    class Recording(FakeModel):
        def generate(self, prompts, **kw):
            respond.temperature = kw.get("temperature", 0.0)
            return super().generate(prompts, **kw)

    model = Recording(respond)
    summary = augment(ws, local(resample=3), model=model).strategies["local"]
    sampled = [c for c in model.calls if c["temperature"] > 0]
    # Every sentence naming something kept nothing greedily: each gets one sampled question item,
    # its prompt three times; "Every data tool is reviewed by the security board." names nothing,
    # and the record and the comparison are written by rule.
    assert len(sampled) == 1 and len(sampled[0]["prompts"]) == 2 * 3
    assert summary.done == 4 * 4 + 1 + 2 and summary.planned == 4 * 4 + 1 + 2
    assert summary.dropped["augment_question:sampled_words_not_in_source"] == 1  # three samples, one pair
    [row] = [r for r in ws.store.examples("local") if r["template"] == "augment_question"]
    assert row["text"].endswith("Which building does the Mubadra team sit in?\nAnswer: Vostra.") or "Vostra." in row["text"]
    assert json.loads(row["settings"])["samples"] == 3 and json.loads(row["settings"])["temperature"] > 0
    # A rerun finds the sampled items done; without resampling they are superseded and removed.
    again = Recording(respond)
    assert augment(ws, local(resample=3), model=again).strategies["local"].skipped == 19 and again.calls == []
    off = augment(ws, local(), model=Recording(respond)).strategies["local"]
    assert off.superseded_removed == 2
    assert {r["template"] for r in ws.store.examples("local")} == (
        {f"augment_record:{k}" for k in ("statement", "question", "reverse_question")}
        | {f"{COMPARISON_TEMPLATE}:{k}" for k in ("statement", "question")})


def test_dry_run_changes_nothing(ws):
    model = FakeModel(reverse_or_echo)
    before = ws.store.counts()
    summary = augment(ws, AugmentConfig(strategy="both", dry_run=True, limit=2, verify=False), model=model)
    assert model.calls == []
    assert ws.store.counts() == before and ws.store.runs() == [] and not ws.exports_dir.exists()
    assert len(summary.prompts) == 4
    p = summary.prompts[0]
    assert (p.prefix + p.prompt).endswith(f"Fact: {ws.store.sentences()[0].text}\nRephrased:")
    assert p.prompt_tokens == len(p.prompt.split()) and p.prefix_tokens > 50
    g = summary.prompts[2]
    assert "Document: teams.md" in g.prefix and "Document: tools.md" in g.prefix
    assert g.prompt == (f"Fact: {DOCS['teams.md'][0]}\nLinked fact: {DOCS['tools.md'][0]}\nTogether:")


def test_global_prefix_is_the_corpus_and_linked_facts_are_joined(ws):
    def join(prefix, prompt):
        if prefix.startswith("For each fact"):  # questions about a kept join
            if "a team that sits" in prompt:
                return "Q: In which building does the team that owns the Plosk tool sit? A: Vostra."
            return ""
        if "Plosk" in prompt.splitlines()[0]:
            return " The Plosk tool is owned by a team that sits in the Vostra building. Plosk tools."
        return " The Mubadra team, which owns the Plosk tool, sits in the Vostra building."

    model = FakeModel(join)
    summary = augment(ws, AugmentConfig(strategy="global", verify=False), model=model)
    s = summary.strategies["global"]
    assert s.windows == 1 and s.done == 4  # a document each, and the chain's two implications by rule
    assert len(model.calls) == 2 and len(model.calls[0]["prompts"]) == 2
    assert all(sentence in model.calls[0]["prefix"] for sentence in CORPUS)
    # Then each kept join is asked about, from each side, in the question prompt's form.
    assert sorted(model.calls[1]["prompts"]) == [f"Fact: {j}\n" for j in (
        "The Mubadra team, which owns the Plosk tool, sits in the Vostra building.",
        "The Plosk tool is owned by a team that sits in the Vostra building.")]
    rows = {r["text"]: r for r in ws.store.examples("global") if not r["template"].startswith("augment_closure")}
    question = load_template("eval_question").render(question="In which building does the team that owns the Plosk tool sit?")
    assert sorted(rows) == [
        f"{question} Vostra.",
        "The Mubadra team, which owns the Plosk tool, sits in the Vostra building.",
        "The Plosk tool is owned by a team that sits in the Vostra building.",
    ]
    assert rows[f"{question} Vostra."]["template"] == "augment_global:question"
    assert s.dropped == {"augment_global:too_short": 1, "augment_global:question:empty": 1}
    by_text = {x.text: x for x in ws.store.sentences()}
    row = rows["The Plosk tool is owned by a team that sits in the Vostra building."]
    fact, linked = by_text[DOCS["tools.md"][0]], by_text[DOCS["teams.md"][0]]
    assert json.loads(row["source_sentence_ids"]) == [fact.id, linked.id]
    assert json.loads(row["source_document_ids"]) == [fact.document_id, linked.document_id]
    assert ws.store.augment_items("global")[0]["corpus_hash"] == ws.store.corpus_hash()


def test_linked_facts_chains_and_aggregations():
    from adaptdocs.store import Sentence

    texts = [("a", "Plosk is used for billing."), ("a", "Plosk belongs to Mubadra."),
             ("b", "Mubadra sits in Vostra."), ("b", "Tavrune is used for billing."), ("b", "Zabu runs Quoll.")]
    sentences = [Sentence(f"s{i}", doc, "e", i, text) for i, (doc, text) in enumerate(texts)]
    vocabulary = CorpusVocabulary(t for _, t in texts)
    pairs = [(f.text, o.text) for f, o in linked_facts("a", sentences, vocabulary)]
    assert pairs == [("Plosk belongs to Mubadra.", "Mubadra sits in Vostra."),
                     ("Plosk is used for billing.", "Tavrune is used for billing.")]


def test_global_windows_when_corpus_does_not_fit(ws):
    add_document(ws, "other.md", ["The Zabu cluster runs the Quoll job every night for the Terrin group."])
    logs = []

    class Log:
        start = advance = finish = lambda *a, **k: None

        def log(self, message):
            logs.append(message)

    model = FakeModel(lambda prefix, prompt: "", context_length=260)
    summary = augment(ws, AugmentConfig(strategy="global", verify=False), reporter=Log(), model=model)
    assert summary.strategies["global"].windows > 1
    assert any("windows" in m for m in logs)
    assert summary.strategies["global"].done == 3 + 2  # a document each, and the chain's two implications by rule


def test_corpus_windows_group_documents_by_shared_names():
    from adaptdocs.store import Document

    docs = [Document(str(i), "", f"{i}.md", "md", t) for i, t in enumerate(
        ["Plosk belongs to Mubadra.", "Zabu runs Quoll.", "Mubadra sits in Vostra.", "Quoll is a job."])]
    vocabulary = CorpusVocabulary(d.text for d in docs)
    windows = corpus_windows(docs, {d.id: 10 for d in docs}, 20, vocabulary)
    assert windows == [["0", "2"], ["1", "3"]]


# -- CLI --------------------------------------------------------------------------------


def test_cli_dry_run_and_json(ws, monkeypatch):
    import adaptdocs.augment as augment_module

    monkeypatch.setattr(augment_module._ModelOnDemand, "get", lambda self: FakeModel(reverse_or_echo))
    runner = CliRunner()
    result = runner.invoke(app, ["augment", "-w", str(ws.root), "--strategy", "local", "--limit", "1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Reversed:" not in result.output  # only the first item: the rephrasing of the first sentence
    assert "Rephrased:" in result.output and "nothing was changed" in result.output
    result = runner.invoke(app, ["augment", "-w", str(ws.root), "--strategy", "local", "--json", "--no-verify"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["strategies"]["local"]["kept"]["augment_reverse"] == 1
    assert data["exports"]["local"].endswith("augmented-local.jsonl")
    # Yield: the sentences naming an entity ("Every data tool is reviewed ..." names none), and which
    # of them have no kept example.
    cover = data["coverage"]
    texts = {s.id: s.text for s in ws.store.sentences()}
    assert cover["named_sentences"] == 4 and cover["with_example"] == 4 - len(cover["uncovered"])
    assert "The Plosk tool is owned by the Mubadra team." not in {texts[i] for i in cover["uncovered"]}
    result = runner.invoke(app, ["augment", "-w", str(ws.root), "--strategy", "local", "--no-verify"])
    assert f"Yield: {cover['with_example']} of the 4 sentences that name an entity" in result.output


# -- real model paths ------------------------------------------------------------------


def test_kill_and_resume_with_a_real_process(tmp_path, tiny_model_dir):
    ws = Workspace(tmp_path / "ws")
    for i in range(12):
        add_document(ws, f"doc{i:02}.md", [f"The Tool{i} tool is owned by the Team{i} team.",
                                           f"The Team{i} team sits in the Building{i} building."])
    command = [sys.executable, "-m", "adaptdocs", "augment", "--strategy", "local", "--model", str(tiny_model_dir),
               "--quantize", "fp32", "--batch-size", "2", "--resample", "0", "-w", str(ws.root)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(ws.store.done_item_keys()) < 6:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    items = 24 * len(LOCAL_TEMPLATES)  # 24 sentences, one item per local template
    done_before = ws.store.done_item_keys()
    assert 6 <= len(done_before) < items, "the run finished before the kill, or never started"
    examples_before = {r["id"] for r in ws.store.examples("local")}

    result = subprocess.run(command + ["--json"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["strategies"]["local"]
    assert data["items"]["skipped"] == len(done_before)
    assert data["items"]["done"] == items - len(done_before)
    assert done_before <= ws.store.done_item_keys() and len(ws.store.done_item_keys()) == items
    rows = ws.store.examples("local")
    assert examples_before <= {r["id"] for r in rows}
    assert len({r["text"] for r in rows}) == len(rows)


@pytest.mark.slow
def test_default_model_writes_a_simple_reversal(tmp_path):
    ws = Workspace(tmp_path / "ws")
    add_document(ws, "tools.md", ["The Kotrizo tool is owned by the Mubadra team."])
    augment(ws, AugmentConfig(strategy="local", batch_size=4))
    # Whichever template writes it first keeps it; the others' copies count as duplicates.
    assert "The Mubadra team owns the Kotrizo tool." in {r["text"] for r in ws.store.examples("local")}


def test_default_model_samples_a_second_try_where_greedy_kept_nothing(tmp_path):
    ws = Workspace(tmp_path / "ws")
    add_document(ws, "tools.md", ["The Kotrizo tool is owned by the Mubadra team."])
    # A margin nothing beats: greedy decoding keeps nothing, so the sentence gets its sampled try.
    summary = augment(ws, AugmentConfig(strategy="local", batch_size=4, verify_margin=1e6, resample=2)).strategies["local"]
    [row] = [r for r in ws.store.augment_items("local") if json.loads(r["inputs"])["settings"]["samples"] == 2]
    assert json.loads(row["inputs"])["settings"]["temperature"] > 0 and row["generated_tokens"] > 0
    assert summary.done == len(LOCAL_TEMPLATES) + 1 and ws.store.examples("local") == []


# -- verification, joins in question form, lists -----------------------------------------------


def test_swap_corruptions_move_the_names():
    from adaptdocs.verify import swap_corruptions

    vocabulary = CorpusVocabulary(CORPUS + ["The Lagle tool is owned by the Tesk team."])
    made = swap_corruptions("Which team owns the Plosk tool? Mubadra.", [CORPUS[0]], vocabulary,
                            kin=lambda name: {"Mubadra": ["Tesk"], "Plosk": ["Lagle"]}[name])
    assert made == [
        "Which team owns the Mubadra tool? Plosk.",  # the relation turned around
        "Which team owns the Lagle tool? Mubadra.",  # a name of the same kind from elsewhere
        "Which team owns the Plosk tool? Tesk.",
    ]
    assert swap_corruptions("Every data tool is reviewed.", [CORPUS[4]], vocabulary, kin=lambda name: []) == []


def believes(true_statements: set[str]):
    """A score function: with its sources in the prompt, a statement the model 'believes' scores 0,
    anything else -5; without sources everything scores -5 (verification is calibrated)."""

    def score(prefix, context, continuation):
        text = continuation.strip()
        shown = context.split("Facts:", 1)[-1].split("\n", 1)[0].strip()
        return 0.0 if shown and any(text.lower() == t.lower() for t in true_statements) else -5.0

    return score


def test_verification_keeps_what_the_sources_support_and_says_why_it_drops(ws):
    def respond(prefix, prompt):
        line = prompt.strip().splitlines()[0]
        if "Plosk tool is owned" in line and prompt.rstrip().endswith("Reversed:"):
            return " The Mubadra team owns the Plosk tool."
        if "Mubadra team sits" in line and prompt.rstrip().endswith("Reversed:"):
            return " The Mubadra team is where the Vostra building sits."  # the names in the wrong slots
        return ""

    truth = {"the Mubadra team owns the Plosk tool.", "the Vostra building houses the Mubadra team."}
    model = FakeModel(respond, score=believes(truth))
    summary = augment(ws, local(verify=True), model=model)
    kept = {r["text"] for r in ws.store.examples("local") if not r["template"].startswith(("augment_record", COMPARISON_TEMPLATE))}
    assert kept == {"The Mubadra team owns the Plosk tool."}
    assert summary.strategies["local"].dropped["augment_reverse:unverified"] == 1, summary.strategies["local"].dropped
    # Each check scored the claim after its source sentence, against its corruptions.
    [(_, requests)] = [c for c in model.score_calls if any("Mubadra team owns" in x for _, x in c[1])]
    contexts = {context for context, x in requests if "Mubadra team owns the Plosk tool" in x}
    # Once with its source sentence in the prompt, once without (calibration).
    assert len(contexts) == 2 and sum(CORPUS[0] in c for c in contexts) == 1


# Two wordings of one relation, neither a plain clause the rule can bend (augment_closure._list_texts):
# the model words the list.
LIST_DOCS = {
    "tools.md": ["The Lindo tool bills customers and is used by the Orvane team.",
                 "The Orvane team also relies on the Quarrow tool.", "The Fesk tool is used for payroll."],
    "teams.md": ["The Mubadra team owns the Fesk tool."],
}


def list_writer(all_line: str):
    def respond(prefix, prompt):
        if prefix.startswith("Each group of facts"):
            return (" Which tools are used by the Orvane team?\nHow many: How many tools are used by the Orvane team?\n" + all_line +
                    "\nFirst: Lindo is one of the tools used by the Orvane team.")
        return ""

    return respond


def test_lists_are_written_from_every_member_of_a_group(tmp_path):
    from conftest import store_corpus

    ws = store_corpus(tmp_path / "ws", LIST_DOCS)
    model = FakeModel(list_writer("All: The Lindo and Quarrow tools are used by the Orvane team."))
    summary = augment(ws, AugmentConfig(strategy="global", verify=False), model=model)
    [list_prompt] = [p for c in model.calls if c["prefix"].startswith("Each group") for p in c["prompts"]]
    assert list_prompt == ("Facts: The Lindo tool bills customers and is used by the Orvane team. The Orvane team "
                           "also relies on the Quarrow tool.\n"
                           "Names: Lindo, Quarrow\nQuestion:")
    rows = {r["text"]: r["template"] for r in ws.store.examples("global") if r["template"].startswith("augment_list")}
    question = load_template("eval_question").render(question="Which tools are used by the Orvane team?")
    count = load_template("eval_question").render(question="How many tools are used by the Orvane team?")
    assert rows == {
        f"{question} Lindo and Quarrow.": "augment_list:question",
        f"{count} Two.": "augment_list:count",
        "The Lindo and Quarrow tools are used by the Orvane team.": "augment_list:all",
        "Lindo is one of the tools used by the Orvane team.": "augment_list:member",
        "Quarrow is one of the tools used by the Orvane team.": "augment_list:member",
    }
    assert summary.strategies["global"].kept["augment_list:member"] == 2


def test_a_list_statement_that_misses_a_member_is_dropped_and_lists_are_verified(tmp_path):
    from conftest import store_corpus

    ws = store_corpus(tmp_path / "ws", LIST_DOCS)
    model = FakeModel(list_writer("All: The Lindo tool is used by the Orvane team."),
                      score=believes({"which tools are used by the Orvane team? Lindo and Quarrow.",
                                      "Lindo is one of the tools used by the Orvane team.",
                                      "Quarrow is one of the tools used by the Orvane team."}))
    summary = augment(ws, AugmentConfig(strategy="global"), model=model)
    dropped = summary.strategies["global"].dropped
    assert dropped["augment_list:list_statement_names_differ"] == 1
    kept = {r["template"] for r in ws.store.examples("global") if r["template"].startswith("augment_list")}
    # The count, not believed on its own, is the number of a list believed whole: kept with it.
    assert kept == {"augment_list:question", "augment_list:member", "augment_list:count"}
    assert "augment_list:count:unverified" not in dropped
    # The wrong lists it was compared with swap a member for a tool that is no member (Fesk).
    requests = [x for _, calls in model.score_calls for _, x in calls]
    assert any("Fesk" in x and "team?" in x for x in requests)


@pytest.mark.parametrize("believed", [True, False])
def test_a_list_said_in_two_wordings_is_worded_by_rule_in_one_frame_and_kept_only_if_verified(tmp_path, believed):
    from conftest import store_corpus

    docs = {"tools.md": ["The Lindo tool is used by the Orvane team.", "The Orvane team also relies on the Quarrow tool.",
                         "The Fesk tool is used for payroll."]}
    ws = store_corpus(tmp_path / "ws", docs)
    question = "Which tools are used by the Orvane team? Lindo and Quarrow."
    truth = {question, "How many tools are used by the Orvane team? Two.",
             "The Lindo and Quarrow tools are used by the Orvane team.",
             "The Lindo tool is used by the Orvane team.", "The Quarrow tool is used by the Orvane team."}
    model = FakeModel(lambda prefix, prompt: "", score=believes(truth if believed else set()))
    summary = augment(ws, AugmentConfig(strategy="global"), model=model)
    assert not any(c["prefix"].startswith("Each group") for c in model.calls)  # the rule worded it
    rows = {r["text"] for r in ws.store.examples("global") if r["template"].startswith("augment_list")}
    if believed:
        assert rows >= {load_template("eval_question").render(question=question.split("? ")[0] + "?") + " Lindo and Quarrow.",
                        "The Quarrow tool is used by the Orvane team."}
    else:  # the model's judgement did not back the frame for every member: nothing of the list stays
        assert rows == set() and summary.strategies["global"].dropped


def test_list_writings_get_the_checks_of_every_statement(tmp_path):
    from conftest import store_corpus

    def respond(prefix, prompt):
        if prefix.startswith("Each group of facts"):
            return (" Which tools are used by the Orvane team?\nAll: The Lindo and Quarrow tools are used by the Orvane team."
                    "\nFirst: The Lindo team is used by the Orvane team.")  # Lindo is a tool in the corpus
        return ""

    ws = store_corpus(tmp_path / "ws", LIST_DOCS)
    summary = augment(ws, AugmentConfig(strategy="global", verify=False), model=FakeModel(respond))
    assert summary.strategies["global"].dropped["augment_list:member:wrong_kind"] == 2
    assert not any("team is used" in r["text"] for r in ws.store.examples("global"))


@pytest.mark.parametrize(
    "statement, lost",
    [
        ("The Plosk tool is owned by a team that sits in the Vostra building.", False),  # both links said
        # Said with a bare preposition, a link is not recognised: dropped, though true (precision first).
        ("The Plosk tool is owned by a team in the Vostra building.", True),
        ("The Plosk tool sits in the Vostra building.", True),  # "owned by" dropped: a property handed over
        ("The Mubadra team owns a tool in the Vostra building.", False),  # keeps the shared name
    ],
)
def test_a_join_must_say_every_link_but_a_category(statement, lost):
    from adaptdocs.augment_filters import lost_link

    vocabulary = CorpusVocabulary(CORPUS + ["Every Plosk tool is a Dorrel device.", "All Dorrel devices are backed up."])
    sources = [CORPUS[0], DOCS["teams.md"][0]]
    assert lost_link(statement, sources, vocabulary) is lost
    # What holds of every Dorrel device holds of each: a category link may go unsaid.
    assert not lost_link("The Plosk tool is backed up.", ["Every Plosk tool is a Dorrel device.",
                                                          "All Dorrel devices are backed up."], vocabulary)


CHAIN_DOCS = {
    "tools.md": ["The Plosk tool is owned by the Mubadra team.", "Tool: Kelder. Series: Orrin."],
    "teams.md": ["The Mubadra team works in the Vostra building.", "Orrin tools are patched twice a month."],
}


def test_a_join_that_says_more_than_its_two_facts_is_dropped(tmp_path, monkeypatch):
    from conftest import store_corpus

    # The chains the closure rule composes never reach the model: here it composes none.
    monkeypatch.setattr("adaptdocs.augment_closure.implications", lambda *a, **k: [])

    def compose(prefix, prompt):
        if prefix.startswith("Two facts share a name") and "First name: Kelder." in prompt:
            return (" The Kelder tool is patched twice a month by the night shift.\n"  # "night shift": from nowhere
                    "Q: How often is the Kelder tool patched? A: Twice a month.")
        return ""

    ws = store_corpus(tmp_path / "ws", CHAIN_DOCS)
    summary = augment(ws, AugmentConfig(strategy="global", verify=False), model=FakeModel(compose))
    assert summary.strategies["global"].dropped["augment_chain:statement:words_not_in_sources"] == 1
    assert [r["template"] for r in ws.store.examples("global")] == ["augment_chain:question"]


def test_chains_are_asked_from_each_end_and_checked_by_rule(tmp_path, monkeypatch):
    from conftest import store_corpus

    monkeypatch.setattr("adaptdocs.augment_closure.implications", lambda *a, **k: [])  # see above

    def compose(prefix, prompt):
        if not prefix.startswith("Two facts share a name"):
            return ""
        if "Shared name: Mubadra." in prompt:  # asked from either end
            return (" The Plosk tool is owned by a team that works in the Vostra building.\n"
                    "Q: In which building does the team that owns the Plosk tool work? A: Vostra.\n"
                    "Q: Which tool is owned by the team that works in the Vostra building? A: Plosk.\n"
                    "Q: Which team owns the Plosk tool? A: Mubadra.")  # names the shared name: dropped
        if "First name: Kelder." in prompt:
            return (" The Kelder tool is patched twice a month.\n"
                    "Q: How often is the Kelder tool patched? A: Twice a month.\n"
                    "Q: How often is the Kelder tool patched? A: Once a year.")  # not what the facts say
        return ""

    ws = store_corpus(tmp_path / "ws", CHAIN_DOCS)
    model = FakeModel(compose)
    summary = augment(ws, AugmentConfig(strategy="global", verify=False), model=model)
    prompts = [p for c in model.calls if c["prefix"].startswith("Two facts") for p in c["prompts"]]
    assert ("Facts: Tool: Kelder. Series: Orrin. Orrin tools are patched twice a month.\n"
            "First name: Kelder. Shared name: Orrin.\nSo:") in prompts
    assert sum("Shared name: Mubadra." in p for p in prompts) == 1  # one chain, asked from both ends
    ask = load_template("eval_question").render
    rows = {r["text"]: r["template"] for r in ws.store.examples("global") if r["template"].startswith("augment_chain")}
    assert rows == {
        "The Plosk tool is owned by a team that works in the Vostra building.": "augment_chain:statement",
        f"{ask(question='In which building does the team that owns the Plosk tool work?')} Vostra.": "augment_chain:question",
        f"{ask(question='Which tool is owned by the team that works in the Vostra building?')} Plosk.": "augment_chain:question",
        "The Kelder tool is patched twice a month.": "augment_chain:statement",
        f"{ask(question='How often is the Kelder tool patched?')} Twice a month.": "augment_chain:question",
    }
    dropped = summary.strategies["global"].dropped
    assert dropped["augment_chain:chain_question_names_shared_name"] == 1
    assert dropped["augment_chain:chain_answer_not_from_second_fact"] == 1


def test_records_are_restated_by_rule_and_asked_from_a_value_only_it_has():
    from adaptdocs.augment_records import record_writings, value_owners
    from adaptdocs.sentences import record_fields

    corpus = ["Instrument: Telsamo. Series: Vantrel. Room: Room 12.", "Instrument: Quandrel. Series: Okkumar. Room: Room 4.",
              "The Hessiver instrument belongs to the Vantrel series.",
              "Chair: the institute director. Place: meeting room.", "The Plosk tool is owned by the Mubadra team."]
    vocabulary = CorpusVocabulary(corpus)
    records = [f for text in corpus if (f := record_fields(text))]
    assert len(records) == 3 and record_fields(corpus[-1]) is None
    owners, template = value_owners(records), load_template("augment_record")
    written = {(kind, q, a) for kind, q, a in record_writings(records[0], template, owners, vocabulary)}
    assert written == {
        ("statement", "", "The series of the Telsamo instrument is Vantrel."),
        ("question", "What is the series of the Telsamo instrument?", "Vantrel."),
        ("statement", "", "The room of the Telsamo instrument is Room 12."),
        ("question", "What is the room of the Telsamo instrument?", "Room 12."),
        ("reverse_question", "Which instrument has Room 12 as its room?", "Telsamo."),
    }  # no "Which instrument has Vantrel as its series?": the Hessiver instrument has it too
    assert ("reverse_question", "Which instrument has Okkumar as its series?", "Quandrel.") in \
        record_writings(records[1], template, owners, vocabulary)
    assert record_writings(records[2], template, owners, vocabulary) == []  # about no one it could be asked by
