"""Comparisons turned around by rule (augment_comparisons.py)."""

from adaptdocs.augment_comparisons import COMPARISON_TEMPLATE, Comparisons
from adaptdocs.augment_filters import CorpusVocabulary
from adaptdocs.exam_facts import FactIndex, read_facts
from adaptdocs.store import Sentence
from adaptdocs.templates import load_template


def turned(corpus: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Each sentence → what the rule writes of it."""
    sentences = [Sentence(f"s{i}", "d", "e", i, text) for i, text in enumerate(corpus)]
    vocabulary = CorpusVocabulary(corpus)
    facts = FactIndex(read_facts(sentences, {"d": "doc.md"}, vocabulary)).facts
    comparisons = Comparisons(facts, vocabulary)
    return {f.text: comparisons.writings(f, load_template(COMPARISON_TEMPLATE)) for f in facts}


def test_a_comparison_is_turned_around_with_its_opposite_and_asked_where_one_name_answers():
    corpus = ["The Oskrel tool is faster than the Lagle tool.",
              "The Korrimat project has a larger budget than the Gaspenoth project, mainly because it is cold.",
              "The Sibbeth instrument is more sensitive than the Telsamo instrument.",
              # A ranking: the Plosk tool is faster than the Lagle tool too, through the Oskrel tool.
              "The Plosk tool is faster than the Oskrel tool.",
              "Results older than five years are archived.",  # no two names
              "Although it is small, the Hessiver instrument is more sensitive than the Quandrel instrument."]
    found = turned(corpus)
    assert found[corpus[0]][0] == ("statement", "", "The Lagle tool is slower than the Oskrel tool.")
    assert ("question", "Which tool is slower than the Oskrel tool?", "Lagle.") in found[corpus[0]]
    # Two tools are faster than the Lagle tool: not asked.
    assert not any(q.startswith("Which tool is faster than the Lagle tool") for _, q, _ in found[corpus[0]])
    assert ("statement", "", "The Gaspenoth project has a smaller budget than the Korrimat project.") in found[corpus[1]]
    assert ("question", "Which project has a larger budget than the Gaspenoth project?", "Korrimat.") in found[corpus[1]]
    assert found[corpus[2]][0] == ("statement", "", "The Telsamo instrument is less sensitive than the Sibbeth instrument.")
    assert found[corpus[4]] == [] and found[corpus[5]] == []
