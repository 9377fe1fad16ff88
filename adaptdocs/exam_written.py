"""Exam statements the model writes: reversals of one fact, joins of two facts that share a name.

The model (or a teacher) gets a few-shot completion prompt per fact or pair of facts
(templates/exam_reversal.toml, templates/exam_multihop.toml). What it writes is kept only when
it passes checks that make a wrong statement unlikely, then verification (verify.py):

- it names exactly the names it should (a reversal: the fact's two; a join: the outer two,
  not the shared one), in the order that makes it a reversal or a join;
- its words are the sources' words (up to inflection, comparative opposites and a few
  template-listed connecting words), and it keeps every relation word of its sources;
- it is no copy of its source with the names swapped (which states a falsehood), keeps a
  comparison's sense and a universal quantifier's force, and adds no pronoun or negation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .augment_filters import (
    _OPPOSITES,
    FUNCTION_WORDS,
    CorpusVocabulary,
    comparison_consistent,
    normalise,
    token_set,
)
from .exam_facts import Fact, FactIndex, Mention, name_spans, slots_of, has_negation, has_pronoun, is_a_link
from .templates import TEMPLATES_DIR, PromptTemplate

REVERSAL_TEMPLATE = "exam_reversal"
MULTIHOP_TEMPLATE = "exam_multihop"
# Most prompts of each kind: enough for an exam, bounded time on a CPU.
MAX_PROMPTS = 64
MAX_WORDS = 40

_IRREGULAR = {
    "led": "lead", "ran": "run", "held": "hold", "made": "make", "kept": "keep", "wrote": "write",
    "written": "write", "built": "build", "sold": "sell", "bought": "buy", "taught": "teach", "found": "find",
    "gave": "give", "given": "give", "took": "take", "taken": "take", "met": "meet", "sent": "send",
    "paid": "pay", "told": "tell", "went": "go", "gone": "go", "began": "begin", "begun": "begin",
    "brought": "bring", "chose": "choose", "chosen": "choose", "knew": "know", "known": "know", "saw": "see",
    "seen": "see", "grew": "grow", "grown": "grow", "driven": "drive", "drove": "drive", "ridden": "ride",
    "rode": "ride", "used": "use", "spoken": "speak", "spoke": "speak", "stood": "stand", "understood": "understand", "bigger": "big", "biggest": "big", "better": "good",
    "worse": "bad", "children": "child", "people": "person", "men": "man", "women": "woman",
}
_OPPOSITE = {a: b for pair in _OPPOSITES for a, b in (pair, pair[::-1])}
_COMPARATIVE_WORDS = set(_OPPOSITE)
UNIVERSALS = frozenset("every all each".split())
# Function words that change what a statement claims ("the only crew that ..."): a statement may
# not add one its sources lack.
_CLAIM_WORDS = frozenset("only just always never all every each no none most many few both either neither any".split())
# Words that turn "X is a K" around correctly: "one of the K is X", "the K include X".
_MEMBERSHIP = frozenset("some one include includes including among member members".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*")


def load_exam_template(name: str) -> tuple[PromptTemplate, set[str]]:
    """An exam template (templates/<name>.toml) and its `allowed` words: connecting words a
    statement may use beyond its sources' words."""
    import tomllib

    from .errors import AdaptdocsError

    path = TEMPLATES_DIR / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AdaptdocsError(f"cannot read template {path}: {e}", "check the templates/ folder") from None
    allowed = data.pop("allowed", [])
    return PromptTemplate(name=name, **data), set(allowed)


def stem(word: str) -> str:
    """A crude English stem: "owned", "owns", "owner" → "own"; "led", "leader" → "lead"."""
    w = re.sub(r"['’]s$", "", word.lower())
    if w in _IRREGULAR:
        w = _IRREGULAR[w]
    else:
        for suffix in ("ing", "ed", "es", "s"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
                w = w[: -len(suffix)]
                break
    if w.endswith("er") and len(w) >= 5:  # "owner" → "own", "servers" → "serv"
        w = w[:-2]
    return w[:-1] if len(w) > 3 and w.endswith("e") else w


def content_stems(text: str, names: Iterable[str] = ()) -> set[str]:
    """Stems of the words of `text` that are neither function words nor part of `names`."""
    name_words = {w for n in names for w in n.split()}
    return {stem(w) for w in _WORD.findall(text) if w.lower() not in FUNCTION_WORDS and re.sub(r"['’]s$", "", w) not in name_words}


def _comparatives(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() in _COMPARATIVE_WORDS}


@dataclass
class Prompt:
    """One generation request.

    Args:
        kind: reversal or multihop.
        values: the template's placeholder values.
        facts: the facts it is about.
        lead: the start of the statement, written for the model (it continues it): a reversal
            opens with the fact's other name, a join with the first fact up to the shared name.
    """

    kind: str
    values: dict[str, str]
    facts: list[Fact]
    lead: str


@dataclass
class Written:
    """A model-written statement that passed the checks, ready to become questions.

    Args:
        kind: reversal or multihop.
        text: the statement.
        facts: its source facts.
        mentions: its mentions, each with the slot of the corpus mention it repeats.
        answer_index: the mention a cloze over it asks for.
        excluded: names that must not be distractors (true by another path).
    """

    kind: str
    text: str
    facts: list[Fact]
    mentions: list[Mention]
    answer_index: int
    excluded: set[str] = field(default_factory=set)


_DETERMINERS = frozenset("the a an every all each some".split())


def phrase_start(fact: Fact, mention: Mention) -> int:
    """Where the noun phrase of `mention` begins: at its determiner ("the Trimbelo team"), if any."""
    match = re.search(r"\b([A-Za-z]+)\s+$", fact.text[: mention.start])
    return match.start(1) if match and match.group(1).lower() in _DETERMINERS else mention.start


def phrase_end(fact: Fact, mention: Mention) -> int:
    """Where the noun phrase of `mention` ends: after its noun ("Trimbelo team"), if one follows."""
    match = re.match(r"\s+([a-z][a-z-]*)\b", fact.text[mention.end:])
    return mention.end + match.end() if match and match.group(1) not in FUNCTION_WORDS else mention.end


def plan_prompts(facts: Sequence[Fact], index: FactIndex, limit: int = MAX_PROMPTS) -> list[Prompt]:
    """The reversal and join prompts the corpus allows, at most `limit` of each kind.

    Reversals: prose facts relating two names. Joins: a fact relating A to B and another
    relating B to C, where A and C never appear together (so the join says something new).
    """
    relations = [f for f in facts if _is_relation(f)]
    prompts = []
    for f in relations[:limit]:
        b = f.mentions[1]
        lead = f.text[phrase_start(f, b): phrase_end(f, b)]
        prompts.append(Prompt("reversal", {"sentence": f.text}, [f], lead[:1].upper() + lead[1:]))
    by_first: dict[str, list[Fact]] = {}
    for f in relations:
        by_first.setdefault(f.names[0], []).append(f)
    joins, seen = [], set()
    for first in relations:
        a, b = first.names
        if _comparatives(first.text):
            continue
        for second in by_first.get(b, []):
            c = second.names[1]
            if second is first or c == a or c in index.neighbours.get(a, ()) or _comparatives(second.text):
                continue
            if (a, c) in seen:
                continue
            seen.add((a, c))
            joins.append(Prompt("multihop", {"fact": first.text, "linked": second.text}, [first, second],
                                _join_lead(first)))
    return prompts + joins[:limit]


def _join_lead(first: Fact) -> str:
    """The start of a join: the first fact up to the shared name, which "the B team" turns into
    "a team that" ("The X tool is owned by a team that ..."), for the model to finish."""
    b = first.mentions[1]
    start, end = phrase_start(first, b), phrase_end(first, b)
    lead = first.text[:start].rstrip()
    if first.text[start:b.start].lower().strip() == "the" and end > b.end:
        noun = first.text[b.end:end].strip()
        return f"{lead} {'an' if noun[0] in 'aeiou' else 'a'} {noun} that"
    return lead


def _is_relation(fact: Fact) -> bool:
    return not fact.table and not fact.unclear and len(fact.mentions) == 2 and not has_pronoun(fact.text)


def _sentence(output: str) -> str | None:
    text = output.strip().splitlines()[0].strip() if output.strip() else ""
    if not text or not text.endswith(".") or len(_WORD.findall(text)) > MAX_WORDS:
        return None
    if re.search(r"[.!?]\s+\S", text[:-1]):  # more than one sentence
        return None
    return text


def _mentions(text: str, vocabulary: CorpusVocabulary, like: dict[str, Mention]) -> list[Mention]:
    """The mentions of a written statement, each typed with the slot of the corpus mention it repeats."""
    found = []
    for start, end, name in name_spans(text, vocabulary.names(text)):
        source = like.get(name)
        slot, coarse = (source.slot, source.coarse) if source else slots_of(text, start, end)
        found.append(Mention(name, start, end, slot, coarse))
    return found


def _quantifier_kept(text: str, sources: Sequence[str]) -> bool:
    """A universal fact ("Every K is a D") may turn existential ("Some D are K") but not bare ("A D is a K")."""
    words = {w.lower() for w in _WORD.findall(text)}
    universal = any(UNIVERSALS & {w.lower() for w in _WORD.findall(s)} for s in sources)
    return not universal or bool(words & (UNIVERSALS | _MEMBERSHIP))


def check_reversal(output: str, fact: Fact, vocabulary: CorpusVocabulary, allowed: set[str]) -> Written | str:
    """The reversal of `fact` the model wrote, or why it is dropped."""
    text = _sentence(output)
    if text is None:
        return "not_one_sentence"
    a, b = fact.mentions
    mentions = _mentions(text, vocabulary, {a.text: a, b.text: b})
    names = [m.text for m in mentions]
    if sorted(names) != sorted([a.text, b.text]):
        return "names_changed"
    if names != [b.text, a.text]:
        return "not_reversed"
    reason = _wording_reason(text, [fact.text], names, allowed)
    if reason:
        return reason
    if token_set(text) == token_set(fact.text) or normalise(text) == normalise(fact.text):
        return "names_swapped_copy"
    if not comparison_consistent(text, fact.text, set(names)):
        return "wrong_comparison"
    if content_stems(fact.text, names) - _with_opposites(content_stems(text, names)):
        return "relation_words_lost"
    if is_a_link(fact) and not {w.lower() for w in _WORD.findall(text)} & _MEMBERSHIP:
        return "membership_reversed"  # "Tolvrik is a Krelvash server" is not "A Krelvash server is Tolvrik"
    return Written("reversal", text, [fact], mentions, answer_index=1)


def check_join(output: str, first: Fact, second: Fact, vocabulary: CorpusVocabulary, index: FactIndex,
               allowed: set[str]) -> Written | str:
    """The join of `first` (A, B) and `second` (B, C) the model wrote, or why it is dropped."""
    text = _sentence(output)
    if text is None:
        return "not_one_sentence"
    (a, b), c = first.mentions, second.mentions[1]
    mentions = _mentions(text, vocabulary, {a.text: a, c.text: c})
    names = [m.text for m in mentions]
    if names != [a.text, c.text]:
        return "names_changed" if sorted(names) != sorted([a.text, c.text]) else "not_joined"
    reason = _wording_reason(text, [first.text, second.text], [a.text, b.text, c.text], allowed)
    if reason:
        return reason
    one = content_stems(first.text, first.names)
    two = content_stems(second.text, second.names)
    if (one ^ two) - content_stems(text, names):
        return "relation_words_lost"
    excluded = index.two_hops(a.text) | {b.text}
    return Written("multihop", text, [first, second], mentions, answer_index=1, excluded=excluded)


def _with_opposites(stems: set[str]) -> set[str]:
    return stems | {stem(_OPPOSITE[s]) for s in stems if s in _OPPOSITE}


def _wording_reason(text: str, sources: Sequence[str], names: Sequence[str], allowed: set[str]) -> str | None:
    """Why the statement's wording strays from its sources, or None."""
    source_text = " ".join(sources)
    if has_negation(text) and not has_negation(source_text):
        return "negation_added"
    if has_pronoun(text) and not has_pronoun(source_text):
        return "pronoun_added"
    source_words = {w.lower() for w in _WORD.findall(source_text)}
    if {w.lower() for w in _WORD.findall(text)} & _CLAIM_WORDS - source_words:
        return "claim_word_added"
    new = content_stems(text, names) - _with_opposites(content_stems(source_text, names)) - {stem(w) for w in allowed}
    if new:
        return "new_words"
    if not _quantifier_kept(text, sources):
        return "quantifier_lost"
    return None


def subject_question(fact_text: str, mentions: Sequence[Mention]) -> tuple[str, int] | None:
    """"The Plosk tool is owned by the Mubadra team." → ("Which tool is owned by the Mubadra team?", 0).

    The sentence must open with a determiner, its first name and a noun, and name something
    after that; the question swaps the subject for "Which <noun>", so its answer is that name.
    """
    if len(mentions) < 2:
        return None
    first = mentions[0]
    match = re.match(r"(?:The|Every|All|Each|A|An) $", fact_text[: first.start])
    rest = re.match(r"\s+([a-z][a-z-]*)\s+(.+)\.$", fact_text[first.end:])
    if not match or not rest or rest.group(1) in FUNCTION_WORDS:
        return None
    return f"Which {rest.group(1)} {rest.group(2)}?", 0

