"""Chains: two facts that share a name, composed and asked as questions from each end.

Multi-hop and category questions ("Who leads the project that uses the Telsamo instrument?",
"How often is the Telsamo instrument calibrated?") stay at chance after fine-tuning on the
facts alone: a model does not compose two facts it learned apart (implications.md). It learns
the composition when it is written out, and answers questions about it when it saw them asked.

The pairs are picked by rule from the corpus's relations (exam_facts.related_pairs): a fact
relating a name X to a name Y, and another fact about Y, either relating it to a third name Z
(a chain: X → Y → Z) or saying something of Y alone (a category: X is a Y, and Ys are ...).
The model (templates/augment_chain.toml) writes the composed statement and the questions; each
must name an end of the chain and not the shared name Y, and a question's answer must be the
other end (Z, or X; for a category, words of the second fact). Then everything is verified like
any augmentation, against the same text with the answer swapped for the shared name or for a
name of its kind.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .augment_filters import MIN_WORDS, CorpusVocabulary, split_question_answers, words
from .exam_facts import Fact, FactIndex, names_in, related_pairs
from .verify import Check

CHAIN_TEMPLATE = "augment_chain"
# The most chains per corpus and per shared name: a hub name (a station every project uses)
# would otherwise make most of them.
MAX_CHAINS = 160
MAX_PER_BRIDGE = 8
MAX_WRONG = 3
_SO = re.compile(r"^\s*(?:So:)?\s*(?P<text>[^\n]*)")


@dataclass
class Chain:
    """Two facts sharing the name `bridge`: `first` relates `anchor` to it; `second` relates it
    to `far`, or (far None) says something of it alone."""

    first: Fact
    second: Fact
    anchor: str
    bridge: str
    far: str | None

    @property
    def sources(self) -> list[str]:
        return [self.first.text, self.second.text]


@dataclass
class ChainWriting:
    """One kept text of a chain: the composed statement, or a question with its answer."""

    kind: str  # "statement" | "question"
    check: Check
    text: str  # the statement, or the answer
    question: str = ""


@dataclass
class ChainRead:
    writings: list[ChainWriting] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


def chains(index: FactIndex, limit: int = MAX_CHAINS) -> list[Chain]:
    """Chains of two facts, spread over the shared names (round robin), at most `limit`."""
    about: dict[str, list[tuple[Fact, str]]] = defaultdict(list)  # name → (fact, the other name)
    alone: dict[str, list[Fact]] = defaultdict(list)  # name → facts that name nothing else
    for fact in index.facts:
        if fact.unclear:
            continue
        for name, other in related_pairs(fact):
            about[name].append((fact, other))
        if not fact.table and len(set(fact.names)) == 1 and len(words(fact.text)) >= MIN_WORDS:
            alone[fact.names[0]].append(fact)
    by_bridge: dict[str, list[Chain]] = defaultdict(list)
    seen = set()
    for bridge in about:
        for first, anchor in about[bridge]:
            if anchor == bridge:
                continue
            for second, far in about[bridge]:
                key = frozenset((first.sentence_id, second.sentence_id, anchor, far))
                if second is first or far in (anchor, bridge) or far in first.names or key in seen:
                    continue
                seen.add(key)
                by_bridge[bridge].append(Chain(first, second, anchor, bridge, far))
            for second in alone.get(bridge, []):
                by_bridge[bridge].append(Chain(first, second, anchor, bridge, None))
    picked, queues = [], [q[:MAX_PER_BRIDGE] for q in by_bridge.values()]
    while queues and len(picked) < limit:
        queues = [q for q in queues if q]
        for q in queues:
            if len(picked) < limit:
                picked.append(q.pop(0))
    return picked


def prompt_values(chain: Chain) -> dict[str, str]:
    return {"facts": " ".join(chain.sources), "anchor": chain.anchor, "bridge": chain.bridge}


def read_chain_output(output: str, chain: Chain, vocabulary: CorpusVocabulary, kin) -> ChainRead:
    """The composed statement and the questions the model wrote for a chain, checked by rule.

    Args:
        output: the completion after "So:".
        chain: the two facts and their names.
        vocabulary: tells names from ordinary words.
        kin: other names of a name's kind, for the wrong answers verification compares with.
    """
    read = ChainRead()
    first_line, _, rest = output.partition("\n")
    statement = _SO.match(first_line)["text"].strip()
    ends = {chain.anchor} | ({chain.far} if chain.far else set())
    names = names_in(statement, vocabulary)
    if not statement:
        read.dropped["chain_statement_missing"] += 1
    elif chain.bridge in names or not ends <= names or names - ends - {chain.bridge}:
        read.dropped["chain_statement_names_wrong"] += 1
    else:
        wrong = [_replace_name(statement, chain.anchor, o) for o in _wrong(chain.anchor, chain, kin)]
        read.writings.append(ChainWriting("statement", Check(statement, chain.sources, wrong), statement))
    for question, answer in split_question_answers(rest):
        reason, expected = _question_reason_to_drop(question, answer, chain, vocabulary)
        if reason:
            read.dropped[reason] += 1
            continue
        if expected:  # the answer swapped for the shared name, or for another of its kind
            wrong = [f"{question} {o}." for o in _wrong(expected, chain, kin)]
        else:  # a category's property: asked of another name of the first name's kind
            wrong = [_replace_name(f"{question} {answer}", chain.anchor, o) for o in _wrong(chain.anchor, chain, kin)[1:]]
        read.writings.append(ChainWriting("question", Check(f"{question} {answer}", chain.sources, wrong), answer,
                                          question=question))
    if not read.writings and not read.dropped:
        read.dropped["empty"] += 1
    return read


def _question_reason_to_drop(question: str, answer: str, chain: Chain, vocabulary: CorpusVocabulary):
    """Why a question does not ask across the chain, or None; and the name its answer must be."""
    asked = names_in(question, vocabulary)
    given = names_in(answer, vocabulary)
    if chain.bridge in asked or chain.bridge in given:
        return "chain_question_names_shared_name", None
    if chain.anchor in asked and chain.far and chain.far not in asked:
        expected = chain.far
    elif chain.far and chain.far in asked and chain.anchor not in asked:
        expected = chain.anchor
    elif chain.anchor in asked and not chain.far:
        expected = None
    else:
        return "chain_question_names_wrong", None
    if expected and given != {expected}:
        return "chain_answer_not_the_other_end", None
    if not expected:
        said = _content(chain.second.text)
        if not _content(answer) or not _content(answer) <= said or _content(answer) <= _content(question):
            return "chain_answer_not_from_second_fact", None
    return None, expected


def _wrong(name: str, chain: Chain, kin) -> list[str]:
    """The shared name, then names of `name`'s kind outside the chain."""
    out = [chain.bridge] + [n for n in kin(name) if n not in (chain.anchor, chain.bridge, chain.far)]
    return out[:MAX_WRONG + 1]


def _content(text: str) -> set[str]:
    from .augment_filters import FUNCTION_WORDS

    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in FUNCTION_WORDS}


def _replace_name(text: str, name: str, other: str) -> str:
    return re.sub(r"\b" + re.escape(name) + r"\b", other, text)
