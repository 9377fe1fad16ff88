"""The corpus read as facts for the exam: each sentence's mentions (names, table cells), the slot
each mention fills, which mentions the corpus puts together, and distractors that cannot be right.

A mention's slot is its type, read from the words around it: "the _ team", "a _ server",
"led by _ .", or for a table cell its header ("label:owner"). Names seen in the same slot are of
the same kind, so they make plausible wrong choices. A choice is wrong by construction when the
corpus never says it together with the question's anchors: it must not share a sentence (or a
pronoun-led follow-up sentence) with any anchor, nor be reachable from one through the same
relation ("A older than B", "B older than C": C is no distractor for "A older than ...").
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .augment_filters import FUNCTION_WORDS, CorpusVocabulary, singular

# Words whose reference a single sentence cannot resolve: a cloze after one of them is ambiguous.
PRONOUNS = frozenset("it its they them their theirs he him his she her hers we us our you your i me my".split())
DEMONSTRATIVES = frozenset("this that these those there".split())
# A negated sentence makes every other name of its slot true too ("X is not owned by the _ team").
NEGATIONS = frozenset("not no never none nobody nothing neither nor without cannot except unless".split())
COORDINATORS = frozenset("and or nor either".split())
MIN_DISTRACTORS = 3
# A table cell longer than this is prose, not a value to choose.
MAX_CELL_WORDS = 5

_COMPARISON = re.compile(r"\bthan\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*")
_FIELD = re.compile(r"\s*(?P<label>[^:.!?]{1,40}?):\s+(?P<value>[^.!?]+?)[.!?](?=\s|$)")


@dataclass(frozen=True)
class Mention:
    """A name or a table cell in a sentence.

    Args:
        text: as written ("Yarvel Tumsk", "data analysis").
        start: character offset in the sentence.
        end: offset just past it.
        slot: its type, fine-grained ("the _ team", "label:owner").
        coarse: a broader type, used when the fine one has too few names ("_ team").
    """

    text: str
    start: int
    end: int
    slot: str
    coarse: str


@dataclass
class Fact:
    """One corpus sentence with its mentions.

    Args:
        sentence_id: the store's sentence id.
        text: the sentence.
        source: the document's path relative to the ingested folder.
        mentions: names (prose) or cells (table rows), in order.
        table: the sentence is a table row ("Header: cell. Header: cell.").
        labels: for a table row, each cell's header, in order.
        unclear: it opens with a pronoun or demonstrative, or negates: no cloze is cut from it.
    """

    sentence_id: str
    text: str
    source: str
    mentions: list[Mention]
    table: bool = False
    labels: list[str] = field(default_factory=list)
    unclear: bool = False

    @property
    def names(self) -> list[str]:
        return [m.text for m in self.mentions]


def _lower_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def has_negation(text: str) -> bool:
    return any(w in NEGATIONS or w.endswith("n't") for w in _lower_words(text))


def has_pronoun(text: str) -> bool:
    return any(w in PRONOUNS for w in _lower_words(text))


def opens_unclear(text: str) -> bool:
    """Whether the sentence's subject is a pronoun or a demonstrative ("It is ...", "This tool ...")."""
    first = _lower_words(text)[:1]
    return bool(first) and (first[0] in PRONOUNS or first[0] in DEMONSTRATIVES)


def _token_before(text: str, at: int) -> tuple[str, int]:
    """The word or punctuation mark before offset `at` (lower case), and where it starts; ("^", 0) at the start."""
    i = at
    while i > 0 and text[i - 1].isspace():
        i -= 1
    if i == 0:
        return "^", 0
    if text[i - 1].isalnum():
        j = i
        while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "'’-"):
            j -= 1
        word = text[j:i].lower()
        return ("a" if word == "an" else word), j
    return text[i - 1], i - 1


def _token_after(text: str, at: int) -> str:
    match = re.match(r"\s*([A-Za-z0-9]+|\S)", text[at:])
    if not match:
        return "$"
    token = match.group(1)
    return singular(token.lower()) if token[0].isalnum() else token


def slots_of(text: str, start: int, end: int) -> tuple[str, str]:
    """The fine and coarse slot of the span text[start:end]."""
    prev1, at = _token_before(text, start)
    nxt = _token_after(text, end)
    if nxt[0].isalnum():
        fine = f"{prev1} _ {nxt}"
        coarse = f"_ {nxt}" if nxt not in FUNCTION_WORDS else fine
    else:
        prev2 = _token_before(text, at)[0] if prev1 != "^" else ""
        fine = f"{prev2} {prev1} _ {nxt}".strip()
        coarse = f"{prev1} _ {nxt}"
    return fine, coarse


def parse_table_row(text: str) -> list[tuple[str, str, int, int]] | None:
    """(label, value, value start, value end) for each field of a "Header: cell. Header: cell." row, or None."""
    fields, at = [], 0
    while at < len(text):
        match = _FIELD.match(text, at)
        if not match:
            return None
        value = match.group("value").strip()
        start = match.start("value") + (len(match.group("value")) - len(match.group("value").lstrip()))
        fields.append((match.group("label").strip(), value, start, start + len(value)))
        at = match.end()
        while at < len(text) and text[at].isspace():
            at += 1
    return fields if len(fields) >= 2 else None


def name_spans(text: str, names: set[str]) -> list[tuple[int, int, str]]:
    """Runs of name words separated by single spaces ("Yarvel Tumsk"); a possessive 's ends a run
    and is left out of it."""
    spans: list[list] = []  # [start, end, open]
    for match in _WORD.finditer(text):
        word = re.sub(r"['’]s$", "", match.group())
        if word not in names:
            continue
        start, end = match.start(), match.start() + len(word)
        if spans and spans[-1][2] and text[spans[-1][1]:start] == " ":
            spans[-1][1] = end
        else:
            spans.append([start, end, True])
        spans[-1][2] = word == match.group()
    return [(s, e, text[s:e]) for s, e, _ in spans]


def names_in(text: str, vocabulary: CorpusVocabulary) -> set[str]:
    """The whole names `text` mentions ("Yarvel Tumsk", "Drobbelin")."""
    return {n for *_, n in name_spans(text, vocabulary.names(text))}


def read_facts(sentences: Sequence, sources: dict[str, str], vocabulary: CorpusVocabulary | None = None) -> list[Fact]:
    """Every sentence as a Fact.

    Args:
        sentences: the store's sentences, in corpus order.
        sources: document id → path relative to the ingested folder.
        vocabulary: tells names from ordinary words; built from the sentences when None.
    """
    vocabulary = vocabulary or CorpusVocabulary(s.text for s in sentences)
    facts = []
    for s in sentences:
        text = s.text
        row = parse_table_row(text)
        if row is not None:
            mentions = [Mention(v, a, b, f"label:{label.lower()}", f"label:{label.lower()}") for label, v, a, b in row]
            facts.append(Fact(s.id, text, sources[s.document_id], mentions, table=True, labels=[r[0] for r in row],
                              unclear=has_negation(text)))
            continue
        facts.append(prose_fact(s.id, text, sources[s.document_id], vocabulary))
    return facts


def prose_fact(sentence_id: str, text: str, source: str, vocabulary: CorpusVocabulary) -> Fact:
    """A sentence of prose (or one clause of it) as a Fact, with the names the vocabulary knows."""
    mentions = [Mention(name, a, b, *slots_of(text, a, b)) for a, b, name in name_spans(text, vocabulary.names(text))]
    return Fact(sentence_id, text, source, mentions, unclear=opens_unclear(text) or has_negation(text))


def frame(fact: Fact) -> str:
    """The sentence with its mentions blanked and lower-cased: what it says of them."""
    parts, at = [], 0
    for m in fact.mentions:
        parts += [fact.text[at:m.start], "\x00"]
        at = m.end
    parts.append(fact.text[at:])
    return " ".join("_" if w == "\x00" else w.lower() for w in re.findall(r"\x00|[A-Za-z0-9]+", "".join(parts)))


class FactIndex:
    """Slots, co-occurrence and relations over the corpus's facts, for choosing distractors.

    Args:
        facts: every fact of the corpus, in corpus order (sentences of one document together).
    """

    def __init__(self, facts: list[Fact]):
        self.facts = facts
        self.pools: dict[str, list[str]] = defaultdict(list)
        # Each name's slots, the fine ones first: names of the same kind share one.
        self.slots_of_name: dict[str, list[str]] = defaultdict(list)
        for fact in facts:
            for m in fact.mentions:
                for slot in {m.slot, m.coarse}:
                    if m.text not in self.pools[slot]:
                        self.pools[slot].append(m.text)
                if m.slot not in self.slots_of_name[m.text]:
                    self.slots_of_name[m.text].insert(0, m.slot)
                if m.coarse not in self.slots_of_name[m.text]:
                    self.slots_of_name[m.text].append(m.coarse)
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        previous: Fact | None = None
        for fact in facts:
            group = set(fact.names)
            # "It is owned by X" continues the previous sentence's subject: their names go together.
            if previous is not None and previous.source == fact.source and (opens_unclear(fact.text) or has_pronoun(fact.text)):
                group |= set(previous.names)
            for name in group:
                self.neighbours[name] |= group - {name}
            previous = fact
        # Names written somewhere other than at the start of a sentence: surely names.
        self.known = {m.text for f in facts for m in f.mentions if m.start > 0 or f.table}
        self.edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._backward: dict[str, dict[str, set[str]]] = {}
        # "X is a Y" links, member → classes and class → members: what is true of a class is true
        # of its members, so the answer's classes and members, and the anchors' members, may be
        # right too.
        self.parents: dict[str, set[str]] = defaultdict(set)
        self.children: dict[str, set[str]] = defaultdict(set)
        for fact in facts:
            if len(fact.mentions) == 2 and not fact.table:
                a, b = fact.names
                self.edges[frame(fact)][a].add(b)
                if is_a_link(fact):
                    self.parents[a].add(b)
                    self.children[b].add(a)

    def reachable(self, name: str, relation: str) -> set[str]:
        """Names reachable from `name` along `relation` (a frame), either way."""
        if relation not in self._backward:
            backward: dict[str, set[str]] = defaultdict(set)
            for a, bs in self.edges.get(relation, {}).items():
                for b in bs:
                    backward[b].add(a)
            self._backward[relation] = backward
        seen = set()
        for graph in (self.edges.get(relation, {}), self._backward[relation]):
            todo = [name]
            while todo:
                for nxt in graph.get(todo.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
        return seen - {name}

    def two_hops(self, name: str) -> set[str]:
        near = self.neighbours.get(name, set())
        return near | {far for n in near for far in self.neighbours.get(n, set())}

    @staticmethod
    def _closure(graph: dict[str, set[str]], name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            for n in graph.get(todo.pop(), ()):
                if n not in seen and n != name:
                    seen.add(n)
                    todo.append(n)
        return seen

    def ancestors(self, name: str) -> set[str]:
        return self._closure(self.parents, name)

    def descendants(self, name: str) -> set[str]:
        return self._closure(self.children, name)

    def candidates(self, answer: str, slot: str, anchors: Iterable[str], excluded: Iterable[str] = ()) -> list[str]:
        """Names of `slot` that are wrong for a question about `anchors` whose answer is `answer`."""
        anchors = set(anchors)
        banned = set(excluded) | anchors | {answer} | self.ancestors(answer) | self.descendants(answer)
        for anchor in anchors:
            banned |= self.neighbours.get(anchor, set()) | self.descendants(anchor)
        low = answer.lower()
        return [
            n for n in self.pools.get(slot, [])
            if n not in banned and n.lower() != low and low not in n.lower() and n.lower() not in low
        ]

    def distractors(self, answer: str, mention: Mention, anchors: Iterable[str], rng: random.Random,
                    excluded: Iterable[str] = (), n: int = MIN_DISTRACTORS,
                    accept: Callable[[str], bool] | None = None) -> list[str] | None:
        """`n` wrong choices of the answer's slot (the coarse slot when the fine one has too few), or None.

        accept: keeps only the names it accepts (e.g. those that take the article before the blank).
        """
        anchors, excluded = list(anchors), set(excluded)
        for slot in dict.fromkeys([mention.slot, mention.coarse]):
            pool = [n for n in self.candidates(answer, slot, anchors, excluded) if accept is None or accept(n)]
            if len(pool) >= n:
                return rng.sample(pool, n)
        return None


# A capitalised first word is a name only when the corpus also writes it mid-sentence, or when it
# acts as a subject ("Pavrin is a ..."); an imperative or an ordinary plural ("Read the ...",
# "Backups are ...") anchors nothing.
_SUBJECT_VERBS = frozenset("is are was were has have had".split())


_IS_A_WORDS = frozenset("is are was were a an the every all each some one of kind type".split())


def is_a_link(fact: Fact) -> bool:
    """Whether a two-name sentence says one is a kind or member of the other ("Tolvrik is a
    Krelvash server", "Every Krelvash server is a Dunmoor machine")."""
    a, b = fact.mentions
    between = _lower_words(fact.text[a.end:b.start])
    if between and between[0] not in _IS_A_WORDS:
        between = between[1:]  # the first name's noun: "Krelvash server is a"
    return bool(between) and bool({"is", "are", "was", "were"} & set(between)) and set(between) <= _IS_A_WORDS


def anchors_before(fact: Fact, index: int, known: set[str] = frozenset()) -> list[str]:
    """The mentions before mention `index` that identify what the sentence is about.

    Args:
        fact: the sentence.
        index: the mention a question would ask for.
        known: names the corpus writes somewhere other than at the start of a sentence.
    """
    anchors = []
    for m in fact.mentions[:index]:
        if m.start == 0 and not fact.table and m.text not in known and _token_after(fact.text, m.end) not in _SUBJECT_VERBS:
            continue
        anchors.append(m.text)
    return anchors


def article(name: str) -> str:
    """The indefinite article before `name` (by its first letter)."""
    return "an" if name[:1].lower() in "aeiou" else "a"


def cloze_choices(index: FactIndex, prefix: str, answer: Mention, anchors: Iterable[str], rng: random.Random,
                  excluded: Iterable[str] = ()) -> tuple[str, str, list[str]] | None:
    """(prefix, answer, distractors) for a cloze cut before `answer`, or None when too few names fit.

    When the prefix ends with "a" or "an", the distractors take the same article, so the article
    gives nothing away; failing that, the article moves into the choices ("an Ombrisk").
    """
    last = prefix.split()[-1] if prefix.split() else ""
    if last not in ("a", "an"):
        found = index.distractors(answer.text, answer, anchors, rng, excluded)
        return (prefix, answer.text, found) if found else None
    if article(answer.text) == last:
        found = index.distractors(answer.text, answer, anchors, rng, excluded, accept=lambda n: article(n) == last)
        if found:
            return prefix, answer.text, found
    found = index.distractors(answer.text, answer, anchors, rng, excluded)
    if not found:
        return None
    return (prefix[: -len(last)].rstrip(), f"{article(answer.text)} {answer.text}",
            [f"{article(d)} {d}" for d in found])


def cloze_reason_to_skip(fact: Fact, index: int, known: set[str] = frozenset()) -> str | None:
    """Why the cloze cutting `fact` before its mention `index` would be ambiguous, or None."""
    m = fact.mentions[index]
    prefix = fact.text[:m.start]
    if fact.unclear:
        return "unclear_subject_or_negation"
    if not anchors_before(fact, index, known):
        return "no_anchor"
    if not prefix.endswith(" "):
        return "joined_to_previous_text"
    if len(_WORD.findall(prefix)) < 2:
        return "short_prefix"
    if not fact.table and has_pronoun(prefix):
        return "pronoun"
    if fact.table and len(m.text.split()) > MAX_CELL_WORDS:
        return "long_cell"
    if not fact.table:
        before, after = _token_before(fact.text, m.start)[0], _token_after(fact.text, m.end)
        if before in COORDINATORS or after in COORDINATORS:
            return "coordinated"
    if m.text.lower() in prefix.lower():
        return "answer_in_prefix"
    return None


@dataclass
class SameFrameGroup:
    """Names the corpus says the same thing of, with the same other name.

    Args:
        members: (fact, the member's mention) per sentence, in corpus order.
        names: the members' names, each once, in corpus order.
        fixed: the other name, shared by every member's sentence.
        incomplete: another name of the members' kind appears with `fixed` somewhere, so the corpus
            may say the same of it in other words: the list may miss a member.
    """

    members: list[tuple[Fact, Mention]]
    names: list[str]
    fixed: str
    incomplete: bool

    def blanked(self, blank: str) -> str:
        """The first member's sentence with the member replaced by `blank`."""
        fact, mention = self.members[0]
        return fact.text[: mention.start] + blank + fact.text[mention.end:]


def same_frame_groups(facts: Sequence[Fact], index: FactIndex, max_names: int,
                      one_name: bool = False) -> list[SameFrameGroup]:
    """Groups of 2 to `max_names` names of which the corpus says the same thing ("The _ team works
    in the Quorvale office" of Mubadra and of Zarnoth): two-name prose sentences with the same frame
    and the same other name. The exam asks them as aggregation questions; augmentation writes them
    as lists, and with `one_name` also groups one-name sentences ("The _ tool is used for billing"),
    whose completeness no co-occurrence can check: the frame is the whole criterion."""
    groups: dict[tuple, list[tuple[Fact, Mention]]] = defaultdict(list)
    for fact in facts:
        if fact.table or fact.unclear or has_pronoun(fact.text):
            continue
        relation = frame(fact)
        if len(fact.mentions) == 1 and one_name:
            groups[(relation, 0, "")].append((fact, fact.mentions[0]))
        if len(fact.mentions) != 2:
            continue
        for at in (0, 1):
            groups[(relation, at, fact.mentions[1 - at].text)].append((fact, fact.mentions[at]))
    made = []
    for (_, _, fixed), members in groups.items():
        names = list(dict.fromkeys(m.text for _, m in members))
        if not 2 <= len(names) <= max_names:
            continue
        slot_names = index.pools.get(members[0][1].slot, [])
        incomplete = any(n not in names and n in index.neighbours.get(fixed, ()) for n in slot_names)
        made.append(SameFrameGroup(members, names, fixed, incomplete))
    return made


def related_pairs(fact: Fact) -> list[tuple[str, str]]:
    """The (name, other name) pairs a sentence relates, both ways: the two names of a two-name
    prose sentence; a table row's first cell with each other short cell. A comparison ranks its
    names rather than relating them, and a sentence with more names does not say which go together."""
    if fact.table:
        key = fact.mentions[0].text
        cells = [m.text for m in fact.mentions[1:] if len(m.text.split()) <= MAX_CELL_WORDS and m.text != key]
        return [(key, c) for c in cells] + [(c, key) for c in cells]
    names = list(dict.fromkeys(fact.names))
    if len(names) != 2 or _COMPARISON.search(fact.text):
        return []
    return [(names[0], names[1]), (names[1], names[0])]
