"""Scoring by log-likelihood with a scripted fake model; icl prefixes; BM25 retrieval."""

from __future__ import annotations

from adaptdocs.evaluate import evaluate_condition
from adaptdocs.questions import Question
from adaptdocs.retrieval import BM25, build_icl_context
from adaptdocs.store import Document, Sentence
from adaptdocs.templates import load_template
from conftest import FakeModel


def q(id, question, choices, answer=0, kind="recall", style="question"):
    return Question(id=id, question=question, choices=choices, answer=answer, kind=kind, style=style)


def test_acc_and_acc_norm_differ_where_a_long_choice_has_the_larger_sum_but_smaller_per_character():
    questions = [q("q1", "Who owns Plosk?", ["Osk", "the Mubadra platform team"], answer=1)]
    # " Osk": -6 (-2/char); " the Mubadra platform team": -10 (-0.4/char).
    model = FakeModel(score=lambda p, c, x: -6.0 if x == " Osk" else -10.0)
    result = evaluate_condition(model, questions, "base")
    record = result.records[0]
    assert (record.picked, record.picked_norm, record.correct) == (0, 1, 1)
    assert record.logprobs == [-6.0, -10.0]
    assert not record.hit and record.hit_norm
    assert record.as_dict().keys() == {"id", "kind", "picked", "picked_norm", "correct", "logprobs"}


def test_question_and_cloze_prompts_and_the_leading_space():
    questions = [
        q("q1", "Which team owns Plosk?", ["Mubadra", "Osk"]),
        q("c1", "The Plosk tool is owned by the", ["Mubadra", "Osk"], style="cloze"),
    ]
    model = FakeModel(score=lambda p, c, x: 0.0)
    evaluate_condition(model, questions, "base")
    (prefix, requests), = model.score_calls
    assert prefix == ""
    assert requests == [
        ("Question: Which team owns Plosk?\nAnswer:", " Mubadra"),
        ("Question: Which team owns Plosk?\nAnswer:", " Osk"),
        ("The Plosk tool is owned by the", " Mubadra"),
        ("The Plosk tool is owned by the", " Osk"),
    ]


def test_icl_corpus_is_passed_as_the_shared_prefix_in_one_call():
    questions = [q(f"q{i}", f"Question {i}?", ["a", "b"]) for i in range(5)]
    corpus = "Here are our internal documents.\n\nThe Plosk tool is owned by Mubadra.\n\n"
    model = FakeModel(score=lambda p, c, x: 0.0 if (p and x == " b") else -1.0)
    result = evaluate_condition(model, questions, "icl", corpus)
    assert len(model.score_calls) == 1 and model.score_calls[0][0] == corpus
    assert all(r.picked == 1 for r in result.records)
    # The per-query prompt counts the corpus: a deployment pays it per query unless it caches.
    assert result.prompt_tokens_per_query == len(corpus.split()) + len("Question: Question 0?\nAnswer:".split())
    assert result.seconds_per_query >= 0


def test_per_question_prefixes_are_grouped():
    questions = [q(f"q{i}", f"Question {i}?", ["a", "b"]) for i in range(4)]
    prefixes = {"q0": "A", "q1": "B", "q2": "A", "q3": "B"}
    model = FakeModel(score=lambda p, c, x: 0.0)
    evaluate_condition(model, questions, "icl", prefixes=prefixes)
    assert [(p, len(r)) for p, r in model.score_calls] == [("A", 4), ("B", 4)]


def sentences(texts: list[str]) -> list[Sentence]:
    return [Sentence(f"s{i}", "d1", f"e{i}", i, t) for i, t in enumerate(texts)]


CORPUS = [
    "The Plosk tool is owned by the Mubadra team.",
    "The Krimbo tool is owned by the Ispaneth team.",
    "Fenwick Plosk leads the Trimbelo team.",
    "Backups run every night at two.",
]


def test_bm25_ranks_the_passage_with_the_rare_query_terms_first():
    index = BM25(CORPUS)
    assert index.rank("Which team owns the Krimbo tool?")[0] == 1
    assert index.rank("Who leads Trimbelo?")[0] == 2
    assert index.rank("When do backups run?")[0] == 3
    assert index.scores("zebra") == [0.0] * 4


def test_whole_corpus_is_shared_when_it_fits():
    model = FakeModel(score=lambda p, c, x: 0.0, context_length=4096)
    docs = [Document("d1", "/x/teams.md", "teams.md", "md", " ".join(CORPUS))]
    icl = build_icl_context(model, load_template("icl_corpus"), docs, sentences(CORPUS), {"q1": "Krimbo?"}, 20, 1024)
    assert not icl.retrieved
    assert "# teams.md" in icl.shared_prefix and CORPUS[0] in icl.shared_prefix
    assert icl.prefix_for("q1") == icl.shared_prefix
    assert "whole corpus" in icl.note()


def test_retrieval_kicks_in_when_the_corpus_exceeds_the_context():
    filler = [f"Filler sentence number {i} about nothing in particular at all." for i in range(200)]
    texts = filler[:100] + CORPUS + filler[100:]
    docs = [Document("d1", "/x/a.md", "a.md", "md", " ".join(texts))]
    model = FakeModel(score=lambda p, c, x: 0.0, context_length=256)
    queries = {"q1": "Which team owns the Krimbo tool?", "q2": "Who leads the Trimbelo team?"}
    icl = build_icl_context(model, load_template("icl_corpus"), docs, sentences(texts), queries, 20, 12)
    assert icl.retrieved and icl.budget_tokens == 12
    assert icl.corpus_tokens > 256
    assert "corpus" in icl.note() and "> context 256" in icl.note() and "BM25" in icl.note()
    assert CORPUS[1] in icl.prefixes["q1"] and CORPUS[2] in icl.prefixes["q2"]
    assert CORPUS[2] not in icl.prefixes["q1"] and "Filler" not in icl.prefixes["q1"]
    for prefix in icl.prefixes.values():
        assert model.count_tokens(prefix) <= 12 + model.count_tokens(load_template("icl_corpus").render(corpus=""))
    # Through evaluate: each question gets its own prefix.
    questions = [q("q1", queries["q1"], ["Ispaneth", "Mubadra"]), q("q2", queries["q2"], ["Fenwick Plosk", "Osk"])]
    evaluate_condition(model, questions, "icl", prefixes=icl.prefixes)
    assert [p for p, _ in model.score_calls] == [icl.prefixes["q1"], icl.prefixes["q2"]]
