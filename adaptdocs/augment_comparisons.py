"""Comparisons turned around by rule: "The Oskrel tool is faster than the Lagle tool." gives "The
Lagle tool is slower than the Oskrel tool.", asked from each end where one name answers ("Which
tool is slower than the Oskrel tool? Lagle.").

The model was asked to do this from worked examples, and on both corpora it kept none of 28: it
copied the sentence, or kept the comparative where it had to flip. Turning a comparison around is
grammar and a closed list of opposite comparatives (augment_filters.opposite), so a rule does it.
A comparison the rule cannot read (not two names around one "than", no comparative it knows) gets
nothing: no wrong reversal is better than a guess.
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from dataclasses import dataclass

from .augment_filters import CorpusVocabulary, capitalized, kind_stem, lower_opening, opposite, singular
from .exam_facts import Fact
from .templates import PromptTemplate

COMPARISON_TEMPLATE = "augment_reverse_comparison"


@dataclass(frozen=True)
class Comparison:
    """"<first> <predicate> than <second>", each side a name's phrase ("The Oskrel tool")."""

    first: str  # the phrase as written, determiner and kind noun included
    first_name: str
    second: str
    second_name: str
    predicate: str  # "is faster", "has a larger budget"
    kind: str  # the names' kind noun, if written ("tool"), else ""

    def reversed(self) -> Comparison | None:
        words = self.predicate.split()
        at = [i for i, w in enumerate(words) if opposite(w)]
        if len(at) != 1:
            return None
        flipped = " ".join(words[: at[0]] + [opposite(words[at[0]])] + words[at[0] + 1:])
        return Comparison(capitalized(self.second), self.second_name, lower_opening(self.first), self.first_name, flipped, self.kind)

    @property
    def text(self) -> str:
        return f"{capitalized(self.first)} {self.predicate} than {lower_opening(self.second)}."


def _side(name: str, vocabulary: CorpusVocabulary) -> str:
    """A name's phrase as a pattern: "the Oskrel tool", "Drobbelin" (a kind noun only if the corpus has it)."""
    kinds = "|".join(sorted(re.escape(k) for k in vocabulary.every_kind))
    return rf"(?:[Tt]he )?{re.escape(name)}(?: (?:{kinds}))?" if kinds else rf"(?:[Tt]he )?{re.escape(name)}"


def read_comparison(fact: Fact, vocabulary: CorpusVocabulary) -> Comparison | None:
    """The fact's main clause as a comparison of its two names, or None."""
    names = list(dict.fromkeys(fact.names))
    # Most sentences compare nothing: no pattern built for them.
    if fact.table or fact.unclear or len(names) != 2 or " than " not in fact.text:
        return None
    clause = re.split(r",|;|:", fact.text.strip(), maxsplit=1)[0].rstrip(" .!")
    first, second = names
    match = re.fullmatch(rf"(?P<a>{_side(first, vocabulary)}) (?P<pred>[a-z][a-z ]*?) than (?P<b>{_side(second, vocabulary)})",
                         clause)
    if not match:
        return None
    kind_a, kind_b = (m[len(n):].strip() for m, n in ((_strip_det(match["a"]), first), (_strip_det(match["b"]), second)))
    if kind_a and kind_b and singular(kind_a) != singular(kind_b):
        return None  # "the Oskrel tool is faster than the Lagle server": no one kind to ask by
    return Comparison(match["a"], first, match["b"], second, match["pred"], kind_a or kind_b)


def _strip_det(phrase: str) -> str:
    return re.sub(r"^[Tt]he ", "", phrase)


class Comparisons:
    """Every comparison of the corpus, both ways round, to tell when a question has one answer."""

    def __init__(self, facts: list[Fact], vocabulary: CorpusVocabulary):
        self.vocabulary = vocabulary
        self.stated: dict[tuple[str, str], set[str]] = defaultdict(set)  # (predicate, second name) → first names
        for fact in facts:
            if (c := read_comparison(fact, vocabulary)) and (r := c.reversed()):
                for side in (c, r):
                    self.stated[(side.predicate, side.second_name)].add(side.first_name)

    def answers(self, predicate: str, second: str) -> set[str]:
        """Every name the corpus puts `predicate` than `second`, through chains of comparisons: a
        ranking holds between many pairs ("faster than B" is true of what is faster than A too)."""
        found, frontier = set(), {second}
        while frontier:
            frontier = {n for s in frontier for n in self.stated.get((predicate, s), ())} - found
            found |= frontier
        return found

    def writings(self, fact: Fact, template: PromptTemplate) -> list[tuple[str, str, str]]:
        """(kind, question, answer-or-statement) for the fact turned around, as record_writings
        gives them: the reversed statement, and each way round asked for its subject where the
        corpus gives that frame one name; [] for a sentence the rule cannot read."""
        comparison = read_comparison(fact, self.vocabulary)
        turned = comparison and comparison.reversed()
        if not turned:
            return []
        written = [("statement", "", turned.text)]
        question = string.Template(template.forms["question"])
        for side in (turned, comparison):
            if side.kind and self.answers(side.predicate, side.second_name) == {side.first_name}:
                asked = question.substitute(kind=singular(side.kind), predicate=side.predicate, other=lower_opening(side.second))
                written.append(("question", asked, f"{side.first_name}."))
        return written
