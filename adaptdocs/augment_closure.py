"""Implications written by rule: what two or three facts say together, without the name they share.

A model does not compose two facts it learned apart (implications.md), and the small default
model writes few compositions right (on the development corpus most of its chains were dropped
for naming the shared name or the wrong ones). But the shape of a composition is grammar, not
knowledge, so it is written here by rule, and asked by rule too:
- **Substitution**: a name in one fact is replaced by what another fact says of it, as a
  description that fits no other name of the corpus: "The Mubadra team works in the Quorvale
  office." and "The Snelby tool is owned by the Mubadra team." give "The team that the Snelby
  tool is owned by works in the Quorvale office."; a record's field gives "the owner of the Plosk
  tool" or "the project whose principal investigator is Idrena Vaskell".
- **Inheritance**: what is said of every member of a class is said of each member, through
  classes of classes: "Tolvrik is a Krelvash server.", "Every Krelvash server is a Dunmoor
  machine." and "Dunmoor machines are patched every Monday." give "The Tolvrik server is patched
  every Monday." A record makes a member when its key's kind is the class's kind ("Instrument:
  Crellish. Series: Throdd." with "Throdd instruments contain a strong laser.").
- **Lists**: a list group (augment_lists.py) whose members' sentences all say one frame, or
  records labelled for it, gives the list statement ("The Plosk and Yimbrot tools are owned by the
  Mubadra team."), and each record's member said in the frame; a group said in several wordings
  is left to the model, which words it.
Only plain main clauses are used: a fact that opens with a condition, negates, leans on a pronoun
or compares is left to the model's chain template; a fronted reason or starting point keeps its main
clause ("Because Vantrel instruments drift quickly, they are calibrated ...", "Since the spring, ..."). The wordings are the template's forms
(templates/augment_closure.toml). Each implication is asked for its other end where one name
answers ("Which office does the team that the Snelby tool is owned by work in? Quorvale."), for
its when-complement ("How often is the Tolvrik server backed up? Nightly.") or, a list, for its
members and their number; augment.py keeps them as written ("composed by rule").
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .augment_filters import FUNCTION_WORDS, CorpusVocabulary, capitalized, kind_stem, lower_opening, plural, singular
from .augment_lists import NUMBER_WORDS, ListGroup, listing
from .augment_records import is_name, linked_to_another
from .exam_facts import Fact, FactIndex, has_negation, has_pronoun, prose_fact
from .sentences import record_fields
from .templates import PromptTemplate

CLOSURE_TEMPLATE = "augment_closure"
# The most implications per corpus and per shared name: a hub (a station every project uses)
# would otherwise make most of them. A name with five or six facts gives 20-odd compositions
# through it (each fact described by each other one): all of them fit.
MAX_IMPLICATIONS = 200
MAX_PER_BRIDGE = 24
# Classes of classes followed at most this deep ("X is a C1", "every C1 is a C2", "C2s are ...").
MAX_DEPTH = 3

# A name as the rules read it: capitalised words ("Harnesk Trust", "Vessapine").
_NAME = r"[A-Z][\w'’-]*(?: [A-Z][\w'’-]*)*"
_DETERMINERS = {"the", "a", "an"}
_QUANTIFIERS = {"every", "each", "all"}
# A sentence opening with one of these says its fact inside a condition or a contrast.
_SUBORDINATORS = frozenset("although though because since while whereas if unless when whenever after before "
                           "as once until".split())
# A fronted reason or contrast, whose main clause is asserted whatever it says (not so a condition).
# A fronted starting point ("Since the spring,", "After the move,"): what follows holds from then on.
_SINCE = re.compile(r"^(?:Since|After) (?P<phrase>[a-z0-9]+(?: [a-z0-9]+){0,3}), (?P<rest>(?:(?:the|a|an)\b|[A-Z]).+)$")
_PRONOUN_SUBJECTS = frozenset("it they he she we i you".split())
_FRONTED = re.compile(rf"^(?:Because|Since|As|Although|Though|While|Whereas) (?P<name>(?:the )?{_NAME})(?: (?P<noun>[a-z]+))?"
                      r" [a-z][^,]*, (?P<pronoun>it|they) (?P<rest>.+)$")
# A ranking ("than", or a direction: "north of") holds between many pairs of a kind: wider than a
# comparison elsewhere (exam_facts), since "the office that is north of the Bestomir office" fits
# every office further north.
_RANKING = re.compile(r"\bthan\b|\b(?:north|south|east|west) of\b", re.IGNORECASE)
_MEMBERSHIP = re.compile(r"^(?P<member>.+?) (?:is|was) (?:a|an|one of the) (?P<rest>.+)$")
# A clause about a whole class ("Every Krelvash server is ...", "Dunmoor machines are ..."):
# inherited by its members, not a fact about one name to substitute.
_GENERIC = re.compile(r"^(?:(?:Every|Each|All|Any) |[A-Z][\w'’-]* [a-z]+s (?:are|were|have|can|must|need)\b)")
# Where a main clause ends: a comma, a clause that explains or contrasts, or "and"/"or" before a
# second predicate or clause ("... series and is kept under a dust cover"), not inside a noun
# phrase ("the worms and fungi that break down leaves").
_CLAUSE_END = re.compile(r",|;|:| (?:but|so|although|though|because|while|whereas) "
                         r"| (?:and|or) (?=(?:is|are|was|were|has|have|had|can|could|must|may|might|will|would|should"
                         r"|it|its|they|their|the|a|an|[a-z]+ed)\b)")
# A relative clause between commas after a named subject: the subject, what the relative clause
# says of it, and the rest of the main clause.
_RELATIVE = re.compile(rf"^(?P<subject>(?:The |the )?{_NAME}(?: [a-z]+)?), (?:which|who) "
                       r"(?P<relative>[^,]+), (?P<rest>[a-z].+)$")
# A fronted reason or concession is asserted as well as its main clause ("Although the Hessiver
# instrument is small, ..."); a condition, a time or "Since" (a time as often as a reason) is not.
_ASSERTED_REASON = re.compile(r"^(?:Because|Although|Though|Whereas) (?P<reason>(?:the )?[A-Z][^,]+), ")
# A purpose after a named agent ("... is used by the Korrimat project to weigh each core before it
# is cut"): what the fact asserts ends with the agent.
_PURPOSE = re.compile(rf"^(?P<keep>.+ by (?:the )?{_NAME}(?: [a-z]+)?) to [a-z]+\b.*$")
# A member of a named group of things of its own kind ("The Ulcarro instrument belongs to the
# Lisperane series": one of the Lisperane instruments).
_GROUP = r"(?P<noun>series|family|range|line|group|class|type)"
_BELONGS = re.compile(rf"^.+? belongs to the (?P<cls>{_NAME}) {_GROUP}$")
# How often a named group is treated is how often each of its members is ("The Lisperane series is
# calibrated every month": so is each instrument that belongs to it). Only a passive with a
# when-complement (_COMPLEMENTS): what else is said of a group may be of the group as a whole
# ("was introduced in 2019", "is named after a river").
_GROUP_PASSIVE = re.compile(rf"^The (?P<cls>{_NAME}) {_GROUP} (?P<pred>(?:is|are) [a-z]+ed\b.*)$")
# Who alone may do a thing to a class's members ("Throdd instruments may only be operated by staff
# who hold a Pemmadel permit"): anyone who does it must be such a person. The relative clause's
# verb in the present ("hold", "holds", "are", "have"), so that "must" can take it.
_ONLY_BY = re.compile(r"^(?:may|can|must) only be (?P<done>[a-z]+ed) by (?:[a-z]+ ){0,2}[a-z]+ (?:who|that) "
                      r"(?P<verb>is|are|has|have|(?![a-z]+ed\b)(?!(?:was|were|had|did|can|could|may|might|must|shall|should|will|would)\b)[a-z]+) "
                      r"(?P<rest>[^,]+)$")
# What everyone in a role towards a class's members must do or be ("Anyone who operates a Lisperane
# instrument must hold a Cavvin permit"): said of each member in the same role.
_ROLE = re.compile(r"^(?P<who>Anyone|Anybody|Everyone|Everybody) who (?P<verb>[a-z]+s) (?:a|an|any|every) "
                   rf"(?P<cls>{_NAME}) (?P<kind>[a-z]+) (?P<pred>(?:must|should|has to|needs to|needs|may) .+)$")
# A subject's two predicates: the second opens with a verb of its own, or with a participle that
# shares the first's auxiliary ("are sent back ... and calibrated ..."); no comma between.
_PREDICATES = re.compile(r"^ (?:(?P<aux>is|are|was|were) )?[^,]+? and (?P<second>[a-z]+ [^,]*?)[.!]?$")
_CLASS_PREDICATE = re.compile(r"^(?:is|was) (?:a|an|one of the) (?P<rest>.+)$")
# Capitalised words that name no one in particular ("Everyone at Thrennik must ...").
_NOBODY = frozenset("everyone everybody anyone anybody someone somebody nobody no-one welcome".split())
# Plural verb → singular, for a class's property said of one member ("are patched" → "is patched").
_SINGULAR_VERBS = {"are": "is", "were": "was", "have": "has", "do": "does", "don't": "doesn't", "aren't": "isn't"}
_PLURAL_VERBS = {one: many for many, one in _SINGULAR_VERBS.items()}
# Words that may follow a plural subject without being its verb ("Dunmoor machines often ...").
_ADVERBS = frozenset("often always also still only now sometimes never all both each even just".split())
_MODALS = frozenset("can could may might must shall should will would".split())
# A when-complement ending a predicate, asked by its own question word ("is backed up nightly" →
# "How often is ... backed up? Nightly."; "is patched every Monday" → "On which day of the week
# ... ? Monday."): the answer is no name, so no other rule asks it.
_UNIT = r"(?:second|minute|hour|day|night|week|fortnight|month|quarter|year)s?"
_COMPLEMENTS = {
    "frequency_wh": re.compile(r" (?P<answer>(?:hourly|daily|nightly|weekly|fortnightly|monthly|quarterly|yearly|annually)"
                               rf"|(?:once|twice|\w+ times) (?:a|an|per|each|every) {_UNIT}"
                               rf"|every (?:other |\w+ )?{_UNIT})$"),
    "weekday_wh": re.compile(r" (?:on|every) (?P<answer>(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)s?$"),
}
# Who does it, after the when-complement ("every month by the supplier's engineer"): not part of the answer.
_COMPLEMENT_AGENT = re.compile(r" by [^,]+$")
_AUXILIARIES = _MODALS | {"is", "are", "was", "were", "has", "have", "had"}


@dataclass
class _ListTexts:
    """A list group said in one member's frame (_Composer._list_texts)."""

    statement: str
    question: str
    count: str
    members: dict[str, str]  # each member said in the frame
    fact_of: dict[str, Fact]  # each member's own fact
    framing: Fact  # the fact whose frame it is
    same_frame: bool  # every member's fact says that frame (or is a record labelled for it)


@dataclass
class Implication:
    """A statement composed by rule from `facts`, in the order used, and the (question, answer)
    pairs that ask it for its other end; `group`: the list group it writes, if any."""

    text: str
    facts: list[Fact]
    questions: list[tuple[str, str]] = field(default_factory=list)
    group: ListGroup | None = None

    @property
    def sources(self) -> list[str]:
        return [f.text for f in self.facts]

    @property
    def sentence_ids(self) -> list[str]:
        return list(dict.fromkeys(f.sentence_id for f in self.facts))


@dataclass
class _Phrase:
    """A name as a noun phrase of a clause: "the Brannic team" (start, end: its span), `kind`
    the noun after the name ("team"), `det` the word before it ("the", "every", or "")."""

    start: int
    end: int
    det: str
    kind: str


def _fronted_main_clause(text: str, vocabulary: CorpusVocabulary) -> str | None:
    """The main clause after a fronted reason or contrast, its pronoun standing for the subject that
    opens the fronted clause ("Because Vantrel instruments drift quickly, they are calibrated every
    two weeks." → "Vantrel instruments are calibrated every two weeks."), or after a starting point
    ("Since the spring, the Quandrel instrument has been used by ..."); None for any other shape,
    and for a condition or a bounded time ("If ...", "When ...", "Until ..."), whose main clause
    holds only then."""
    if start := _SINCE.match(text):  # "Since the spring, the Quandrel instrument has been used by ..."
        if set(start["phrase"].split()) & (_AUXILIARIES | _PRONOUN_SUBJECTS):
            return None  # a clause, not a point in time ("Since it is fragile, ...")
        return capitalized(start["rest"])
    match = _FRONTED.match(text)
    if not match:
        return None
    noun = match["noun"] if match["noun"] and kind_stem(match["noun"]) in vocabulary.every_kind else None
    subject = f"{match['name']} {noun}" if noun else match["name"]
    plural = bool(noun) and singular(noun) != noun
    return capitalized(f"{subject} {match['rest']}") if (match["pronoun"] == "they") == plural else None


def _clauses(fact: Fact, vocabulary: CorpusVocabulary) -> tuple[str | None, list[str]]:
    """The fact's plain main clause without its full stop ("Ulcarro is used by the Vessapine project"
    from "..., mostly at night."), or None when it has none to compose with; and the clauses it
    asserts besides: a fronted reason or concession ("Because Gaspenoth is funded by the Dassimore
    Fund, ..."), a relative clause about its named subject ("The Ulcarro instrument, which belongs
    to the Lisperane series, arrived ...")."""
    text = fact.text.strip()
    if fact.table or "?" in text:
        return None, []
    # A reason is asserted however its main clause goes on ("..., it will not be lent ...").
    besides = [capitalized(reason["reason"])] if (reason := _ASSERTED_REASON.match(text)) else []
    text = _fronted_main_clause(text, vocabulary) or text
    if relative := _RELATIVE.match(text):  # "The Crellish instrument, which is kept ..., is used by ..."
        text = f"{relative['subject']} {relative['rest']}"
        besides.append(capitalized(f"{relative['subject']} {relative['relative']}"))
    if second := _second_predicate(text, vocabulary):  # "... series and is kept under a dust cover"
        besides.append(second)
    main = None if fact.unclear else _plain_clause(text, fact.names)
    return main, [c for b in besides if (c := _plain_clause(b, fact.names))]


def _second_predicate(text: str, vocabulary: CorpusVocabulary) -> str | None:
    """The second of two predicates of a named subject, said of the subject: "Hessiver belongs to the
    Vantrel series and is kept under a dust cover." → "Hessiver is kept under a dust cover"; with
    the auxiliary shared, "Throdd instruments are sent back to the maker and calibrated every three
    months." → "Throdd instruments are calibrated every three months"."""
    subject = re.match(rf"(?:The |the )?{_NAME}", text)
    if not subject:
        return None
    end = subject.end()
    if (kind := re.match(r" ([a-z]+)\b", text[end:])) and kind_stem(kind[1]) in vocabulary.every_kind:
        end += kind.end()
    predicates = _PREDICATES.match(text[end:])
    if not predicates:
        return None
    if predicates["second"].split(" ", 1)[0] in _AUXILIARIES:
        return f"{text[:end]} {predicates['second']}"
    if predicates["aux"] and predicates["second"].split(" ", 1)[0].endswith("ed"):
        return f"{text[:end]} {predicates['aux']} {predicates['second']}"
    return None


def _plain_clause(text: str, names: list[str]) -> str | None:
    """A sentence's first clause, cut where a second clause or a purpose begins, when it can be composed."""
    first = text.split(maxsplit=1)[0].lower() if text else ""
    if first in _SUBORDINATORS | _NOBODY or has_negation(text):
        return None
    clause = _CLAUSE_END.split(text, maxsplit=1)[0].rstrip(" .;:!")
    # Every name of the text in the clause: a name cut off ("the Lisperane and Throdd series")
    # was coordinated with one that stays.
    if not all(n in clause for n in names if n in text):
        return None
    if purpose := _PURPOSE.match(clause):
        clause = purpose["keep"]
    if has_pronoun(clause) or len(clause.split()) < 4:
        return None
    return clause


def _phrase(clause: str, name: str, vocabulary: CorpusVocabulary) -> _Phrase | None:
    """Where `name` stands in `clause`, with its determiner and its kind noun."""
    found = re.search(rf"(?<![\w'’-]){re.escape(name)}(?![\w'’-])", clause)
    if not found:
        return None
    start, end = found.span()
    before = re.search(r"(\w+)\s+$", clause[:start])
    det = before.group(1).lower() if before and before.group(1).lower() in _DETERMINERS | _QUANTIFIERS else ""
    if det:
        start = before.start(1)
    after = re.match(r"\s+([a-z]+)\b", clause[end:])
    kind = ""
    if after and after.group(1) not in FUNCTION_WORDS and kind_stem(after.group(1)) in vocabulary.every_kind:
        if singular(after.group(1)) != after.group(1):  # "the Vantrel instruments": the name is no instrument
            return None
        kind, end = after.group(1), end + after.end(1)
    if re.match(r"['’]s\b", clause[end:]):  # "the Vessapine project's counts": another thing than the name
        return None
    # One of two names said together ("the Lisperane and Throdd series"): what is said is of both.
    if re.search(r"\b(?:and|or|nor)\s+$", clause[:start]) or re.match(r"\s+(?:and|or|nor)\s+(?:the\s+)?[A-Z]", clause[end:]):
        return None
    return _Phrase(start, end, det, kind)


def _kind_of(name: str, phrase: _Phrase, vocabulary: CorpusVocabulary) -> str:
    """The kind noun of a name: as written here, else the one the corpus always gives it."""
    if phrase.kind:
        return phrase.kind
    kinds = {k for w in name.split() for k in vocabulary.kinds.get(w, ())}
    return kinds.pop() if len(kinds) == 1 and kinds == {singular(k) for k in kinds} else ""


def _singular_predicate(predicate: str) -> str | None:
    """A plural subject's predicate for one member ("are patched every Monday" → "is patched ..."),
    or None when its first word is not a verb this rule knows how to bend."""
    first, _, rest = predicate.partition(" ")
    if first in _SINGULAR_VERBS:
        verb = _SINGULAR_VERBS[first]
    elif first in _MODALS or (first.endswith("ed") and not first.endswith("eed")):  # a past tense fits both
        verb = first
    elif re.fullmatch(r"[a-z]+", first) and first not in _ADVERBS and not first.endswith(("s", "ly", "ing")):
        verb = first + ("es" if first.endswith(("sh", "ch", "x", "o")) else "s")
    else:
        return None
    return f"{verb} {rest}".strip()


def _plural_predicate(predicate: str, vocabulary: CorpusVocabulary) -> str | None:
    """A predicate said of one name, for several ("is an Ombrisk server" → "are Ombrisk servers",
    "owns the" → "own the"), or None when its verb or its noun is not one this rule can bend."""
    first, _, rest = predicate.partition(" ")
    if first in ("is", "was") and (article := re.match(r"(?:a|an) (.+)$", rest)):
        words = article[1].split()
        at = next((i for i, w in enumerate(words) if w.islower() and kind_stem(w) in vocabulary.every_kind), None)
        if at is None:
            return None
        rest = " ".join(words[:at] + [plural(words[at])] + words[at + 1:])
    elif rest.startswith("one of "):  # "is one of the Vantrel instruments"
        return None
    if first in _PLURAL_VERBS:
        verb = _PLURAL_VERBS[first]
    elif first in _MODALS or (first.endswith("ed") and not first.endswith("eed")):
        verb = first
    else:
        verb = _base_verb(first)
    return verb and f"{verb} {rest}".strip()


def _label_says(label: str, clause: str) -> bool:
    """Whether a record's field label names the relation the clause words ("Owner" → "is owned by")."""
    stem = re.sub(r"(?:er|or|s)$", "", label.lower())
    return len(stem) >= 3 and any(w.startswith(stem) for w in re.findall(r"[a-z]+", clause.lower()))


def _base_verb(verb: str) -> str | None:
    """The bare form of a present-tense verb for "does": "works" → "work", "carries" → "carry"."""
    if not re.fullmatch(r"[a-z]+s", verb) or verb.endswith("ss"):
        return None
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("shes", "ches", "xes", "sses", "oes")):
        return verb[:-2]
    return verb[:-1]


def _participle_base(done: str, vocabulary: CorpusVocabulary) -> str | None:
    """The bare verb of a regular past participle, in the form the corpus writes it ("operated" →
    "operate" where it says "operates" or "operate"); None when the corpus has no such form:
    spelling alone guesses wrong too often ("stored" → "stor", "planned" → "plann")."""
    if not done.endswith("ed") or len(done) < 5:
        return None
    candidates = [done[:-1], done[:-2]] + ([done[:-3]] if done[-3] == done[-4] else []) + [done[:-3] + "y"]
    return next((verb for verb in candidates if verb in vocabulary.lower or f"{verb}s" in vocabulary.lower
                 or f"{verb}es" in vocabulary.lower or verb.endswith("y") and f"{verb[:-1]}ies" in vocabulary.lower), None)


def _complement(predicate: str) -> tuple[str, re.Match] | None:
    """(its question word's form, the match) of the when-complement ending `predicate`, an agent
    after it allowed ("is calibrated every month by the supplier's engineer"), or None."""
    for form, pattern in _COMPLEMENTS.items():
        if match := pattern.search(predicate) or pattern.search(_COMPLEMENT_AGENT.sub("", predicate)):
            return form, match
    return None


def _asked(subject: str, middle: str, wh: str) -> str | None:
    """"<subject> <middle> <the asked name>" asked for the name: "Which office does the team that
    the Snelby tool is owned by work in?", "Who is the team ... led by?"; None for a verb this rule
    cannot invert (a past tense, or no verb)."""
    first, _, rest = middle.partition(" ")
    subject = lower_opening(subject)
    if re.search(r"\b(?:who|which|that|whose)\b", middle):
        return None  # the name sits inside a relative clause ("... by staff who hold a Pemmadel permit")
    if first in _AUXILIARIES:
        question = f"{wh} {first} {subject} {rest}"
    elif base := _base_verb(first):
        question = f"{wh} does {subject} {base} {rest}"
    else:
        return None
    return capitalized(" ".join(question.split())) + "?"


class _Composer:
    """The corpus's facts, read for composition."""

    def __init__(self, index: FactIndex, vocabulary: CorpusVocabulary, template: PromptTemplate):
        self.vocabulary = vocabulary
        self.forms = {name: string.Template(text) for name, text in template.forms.items()}
        # Each fact with its main clause, then a fact of each other clause it asserts, keyed by the
        # fact's identity: a sentence's clauses share its sentence id.
        self.facts: list[Fact] = []
        self.clauses: dict[int, str | None] = {}
        for fact in index.facts:
            main, besides = _clauses(fact, vocabulary)
            if not fact.unclear:  # opens with a pronoun, or negates
                self.facts.append(fact)
                self.clauses[id(fact)] = main
            for clause in besides:
                self.facts.append(prose_fact(fact.sentence_id, clause + ".", fact.source, vocabulary))
                self.clauses[id(self.facts[-1])] = clause
        self.records = {f.sentence_id: fields for f in self.facts if f.table and (fields := record_fields(f.text))}
        # What each clause says with one name blanked → the names that fill it: a description
        # built from a frame more than one name fills would single out none of them.
        self.fillers: dict[str, set[str]] = defaultdict(set)
        for fact in self.facts:
            clause = self.clauses[id(fact)]
            for name in set(fact.names) if clause else ():
                if phrase := _phrase(clause, name, vocabulary):
                    self.fillers[self._blank(clause, phrase)].add(name)
        self.field_owners: dict[tuple[str, str], set[str]] = defaultdict(set)
        for fields in self.records.values():
            for label, value in fields[1:]:
                self.field_owners[(label.lower(), value)].add(fields[0][1])

    @staticmethod
    def _blank(clause: str, phrase: _Phrase) -> str:
        return (clause[: phrase.start] + "_" + clause[phrase.end:]).lower()

    def _names(self, fact: Fact) -> list[str]:
        """The fact's names, those of its clause where it has one (a relative clause cut out of
        the main clause took its names with it)."""
        clause = self.clauses.get(id(fact))
        return [n for n in dict.fromkeys(fact.names) if not clause or n in clause]

    def _wh(self, name: str, phrase: _Phrase) -> str | None:
        """"which office" for a name of a kind, "who" for a person's name, else None."""
        kind = _kind_of(name, phrase, self.vocabulary)
        if kind:
            return f"which {kind}"
        words = name.split()
        return "who" if len(words) >= 2 and all(w[:1].isupper() for w in words) and not phrase.det else None

    def _one_answer(self, name: str, phrase: _Phrase, bridge: str | None) -> bool:
        """Whether `name` is the only name of its kind the corpus links to `bridge` (the name the
        question's description stands for): "Which tool is owned by the team that is led by Yarvel
        Tumsk?" has two answers when a record gives that team a second tool."""
        kind = _kind_of(name, phrase, self.vocabulary)
        return not (bridge and kind and linked_to_another(bridge, name, kind, self.vocabulary))

    def _subject_question(self, name: str, phrase: _Phrase, clause: str, predicate: str,
                          bridge: str) -> list[tuple[str, str]]:
        """"<name's phrase> <predicate>" asked for the name: "Which instrument is used by the project
        whose ...? Jutmaro."; not when another name fills the same clause ("The Zarnoth team works in
        the office that the Mubadra team works in": so does the Mubadra team)."""
        wh = self._wh(name, phrase)
        if not wh or self.fillers[self._blank(clause, phrase)] != {name} or not self._one_answer(name, phrase, bridge):
            return []
        return [(f"{capitalized(wh)} {predicate.strip()}?", f"{name}.")]

    def _object_question(self, subject: str, predicate: str, name: str, bridge: str | None = None) -> list[tuple[str, str]]:
        """"<subject> <predicate>" asked for `name` when it ends the predicate: "Which permit does
        the Tolvrik server need? Gorsk."."""
        phrase = _phrase(predicate, name, self.vocabulary)
        if not phrase or predicate[phrase.end:].strip() or not (wh := self._wh(name, phrase)):
            return []
        if not self._one_answer(name, phrase, bridge):
            return []
        question = _asked(subject, predicate[: phrase.start].strip(), wh)
        return [(question, f"{name}.")] if question else []

    def _complement_question(self, subject: str, predicate: str) -> list[tuple[str, str]]:
        """"<subject> <predicate>" asked for the when-complement that ends it (_COMPLEMENTS)."""
        if not (found := _complement(predicate)):
            return []
        form, match = found
        question = _asked(subject, predicate[: match.start()], self.forms[form].template)
        return [(question, f"{capitalized(match['answer'])}.")] if question else []

    # -- lists --------------------------------------------------------------------------

    def _frame(self, fact: Fact, member: str, fixed: str) -> tuple[str, _Phrase] | None:
        """(clause, the member's phrase) when the fact is a plain clause of the member and the fixed
        name only, the member not a class ("Every Krelvash server is ...")."""
        clause = self.clauses.get(id(fact))
        phrase = clause and _phrase(clause, member, self.vocabulary)
        if not phrase or phrase.det in _QUANTIFIERS or set(self._names(fact)) != {member} | ({fixed} - {""}):
            return None
        return clause, phrase

    def _says(self, fact: Fact, member: str, fixed: str, clause: str, blank: str) -> bool:
        """Whether `fact` says of `member` what `clause` says of its member: the same frame, or a
        record keyed by the member whose field holding the fixed name is labelled for the relation."""
        if fact.sentence_id in self.records:
            (_, key), *fields = self.records[fact.sentence_id]
            return key == member and any(value == fixed and _label_says(label, clause) for label, value in fields)
        frame = self._frame(fact, member, fixed)
        return bool(frame) and self._blank(*frame) == blank

    def _list_texts(self, group: ListGroup) -> _ListTexts | None:
        """The group's list said in the frame of its first member with a plain clause, or None
        when no member has one this rule can bend."""
        fact_of = {m: next(f for f in group.facts if m in f.names) for m in group.names}
        framed = next(((m, frame) for m in group.names if (frame := self._frame(fact_of[m], m, group.fixed))), None)
        if not framed:
            return None
        member, (clause, phrase) = framed
        head, tail = clause[: phrase.start], clause[phrase.end:].strip()
        which, how_many = (self.forms[f].substitute(kinds=plural(group.kind)) for f in ("list_wh", "count_wh"))
        names = listing(group.names)
        together = f"the {names} {plural(phrase.kind)}" if phrase.kind and phrase.det == "the" else names
        if phrase.start == 0:
            predicate = _plural_predicate(tail, self.vocabulary)
            if not predicate:
                return None
            statement = f"{capitalized(together)} {predicate}."
            question, count = f"{capitalized(which)} {predicate}?", f"{capitalized(how_many)} {predicate}?"
        else:
            fixed = _phrase(clause, group.fixed, self.vocabulary) if group.fixed else None
            if tail or not fixed or fixed.start != 0:
                return None
            subject, middle = clause[: fixed.end], clause[fixed.end : phrase.start].strip()
            statement = f"{head}{together}."
            question, count = _asked(subject, middle, which), _asked(subject, middle, how_many)
            if not question or not count:
                return None
        def said_of(other: str) -> str:
            return capitalized(head + clause[phrase.start : phrase.end].replace(member, other) + clause[phrase.end:]) + "."
        blank = self._blank(clause, phrase)
        same = all(self._says(fact_of[m], m, group.fixed, clause, blank) for m in group.names)
        return _ListTexts(statement, question, count, {m: said_of(m) for m in group.names}, fact_of, fact_of[member], same)

    def written_list(self, group: ListGroup) -> list[Implication]:
        """A group said in one frame: its list statement, asked for its members and for how many,
        and each member said in the frame where only a record said it: "The Plosk and Yimbrot tools
        are owned by the Mubadra team." / "Which tools are owned by the Mubadra team? Plosk and
        Yimbrot." / "How many tools are owned by the Mubadra team? Two." / "The Plosk tool is owned
        by the Mubadra team."; [] for a group said in several wordings (worded_list)."""
        texts = self._list_texts(group)
        if not texts or not texts.same_frame:
            return []
        number = NUMBER_WORDS[len(group.names)].capitalize()
        written = [Implication(texts.statement, list(group.facts), [(texts.question, f"{listing(group.names)}."),
                                                                    (texts.count, f"{number}.")])]
        for member in (m for m in group.names if texts.fact_of[m].sentence_id in self.records):
            written.append(Implication(texts.members[member], [texts.fact_of[member], texts.framing], []))
        return written

    def worded_list(self, group: ListGroup) -> str | None:
        """A group said in several wordings ("The Drobbelin project is funded by the Voluvant
        Foundation.", "Vessapine receives its money from the Voluvant Foundation."), worded in one
        member's frame as the list template's output, or None. Whether each member's own sentence
        says that frame is a judgement, not grammar: verification makes it, as for the model's
        wording (augment_lists.read_list_output)."""
        texts = self._list_texts(group)
        if not texts or texts.same_frame:
            return None
        return (f" {texts.question}\nHow many: {texts.count}\nAll: {texts.statement}"
                f"\nFirst: {texts.members[group.names[0]]}")

    # -- substitution -------------------------------------------------------------------

    def describe(self, fact: Fact, bridge: str, other: str) -> tuple[str, str] | None:
        """(description of `bridge` through what `fact` says of it and `other`, its kind noun),
        when the description fits `bridge` alone."""
        fields = self.records.get(fact.sentence_id)
        if fields:
            (key_label, key), values = fields[0], dict((v, label) for label, v in fields[1:])
            if not is_name(key):  # "Chair: the institute director." is about no one to name
                return None
            if (bridge == key and other in values and is_name(other) and self.field_owners[(values[other].lower(), other)] == {key}
                    and not linked_to_another(other, key, key_label, self.vocabulary)):
                return (self.forms["by_field"].substitute(kind=key_label.lower(), label=values[other].lower(), value=other),
                        key_label.lower())
            if other == key and bridge in values:
                owner = other if key_label.lower() == "name" else f"the {other} {key_label.lower()}"
                return self.forms["field_of"].substitute(label=values[bridge].lower(), owner=owner), values[bridge].lower()
            return None
        clause = self.clauses[id(fact)]
        if not clause or _RANKING.search(clause) or _GENERIC.match(clause) or set(self._names(fact)) != {bridge, other}:
            return None
        phrase = _phrase(clause, bridge, self.vocabulary)
        # "X is a Yoppel server" describes no one server: a class has members the corpus may not name.
        if not phrase or phrase.det in _QUANTIFIERS or _MEMBERSHIP.match(clause) \
                or self.fillers[self._blank(clause, phrase)] != {bridge}:
            return None
        kind = _kind_of(bridge, phrase, self.vocabulary)
        if not kind or linked_to_another(other, bridge, kind, self.vocabulary):
            return None
        rest = " ".join((clause[: phrase.start] + clause[phrase.end:]).split())
        if phrase.start > 0:
            rest = lower_opening(rest)
        return self.forms["described"].substitute(kind=kind, clause=rest), kind

    def substitute(self, fact: Fact, bridge: str, other: str | None, description: str,
                   kind: str) -> tuple[str, list[tuple[str, str]]] | None:
        """`fact` with `bridge` replaced by `description`, of `kind`, when `fact` relates it to
        `other` (None: when it says something of `bridge` alone); and the questions asking it for `other`."""
        fields = self.records.get(fact.sentence_id)
        if fields:
            (key_label, key), rest = fields[0], fields[1:]
            label = next((label for label, v in rest if v == other), None)
            if bridge != key or label is None or not is_name(key):
                return None
            values = {"label": label.lower(), "subject": description, "value": other}
            return (self.forms["field"].substitute(values),
                    [(self.forms["field_question"].substitute(values), f"{other[:1].upper()}{other[1:]}.")])
        clause = self.clauses[id(fact)]
        if not clause or _GENERIC.match(clause) or set(self._names(fact)) != {bridge, other} - {None}:
            return None
        phrase = _phrase(clause, bridge, self.vocabulary)
        if not phrase or phrase.det not in ("", "the") or _kind_of(bridge, phrase, self.vocabulary) != kind:
            return None
        before, after = clause[: phrase.start], clause[phrase.end:]
        text = capitalized(" ".join((before + description + after).split())) + "."
        if other is None or _RANKING.search(clause):  # a ranking has more than one name on a side
            return text, []
        if not before:  # the description is the subject: ask for the name after the verb
            return text, self._object_question(description, after.strip(), other, bridge)
        other_phrase = _phrase(clause, other, self.vocabulary)
        if other_phrase and other_phrase.start == 0:  # the other name is the subject: ask for it
            return text, self._subject_question(other, other_phrase, clause, text[other_phrase.end : -1], bridge)
        return text, []

    def substitutions(self) -> list[Implication]:
        """Every fact about a shared name with the name replaced by a description another fact gives it."""
        about: dict[str, list[tuple[Fact, str]]] = defaultdict(list)  # bridge → (fact, the other name)
        for fact in self.facts:
            names = self._names(fact)
            if fact.sentence_id in self.records:
                key = self.records[fact.sentence_id][0][1]
                pairs = [(key, v) for _, v in self.records[fact.sentence_id][1:]]
                pairs += [(b, a) for a, b in pairs]
            elif len(names) == 2:
                pairs = [(names[0], names[1]), (names[1], names[0])]
            elif len(names) == 1:
                pairs = [(names[0], None)]
            else:
                continue
            for bridge, other in pairs:
                about[bridge].append((fact, other))
        out: dict[str, list[Implication]] = defaultdict(list)
        for bridge, uses in about.items():
            for source, anchor in uses:
                described = anchor and self.describe(source, bridge, anchor)
                if not described:
                    continue
                for target, far in uses:
                    if target is source or far in (anchor, bridge):
                        continue
                    composed = self.substitute(target, bridge, far, *described)
                    if composed:
                        out[bridge].append(Implication(composed[0], [source, target], composed[1]))
        return _spread(out)

    # -- inheritance --------------------------------------------------------------------

    def _class_of(self, text: str) -> tuple[str, str] | None:
        """(class name, kind) of a class phrase ("Krelvash server", "Vantrel instruments")."""
        match = re.match(rf"({_NAME}) ([a-z]+)$", text)
        if not match or kind_stem(match.group(2)) not in self.vocabulary.every_kind:
            return None
        return match.group(1), singular(match.group(2))

    def _only_by(self, predicate: str) -> tuple[str, str] | None:
        """(verb, predicate) of the role a "may only be <done> by people who ..." predicate gives:
        "may only be operated by staff who hold a Pemmadel permit" → ("operates", "must hold a
        Pemmadel permit"), for "Anyone who operates the Crellish instrument must hold ..."."""
        match = _ONLY_BY.match(predicate)
        done = match and _participle_base(match["done"], self.vocabulary)
        does = done and _singular_predicate(done)
        if not does or has_negation(predicate) or has_pronoun(match["rest"]):
            return None
        verb = {"is": "be", "are": "be", "has": "have"}.get(match["verb"]) or _base_verb(match["verb"]) or match["verb"]
        return does, f"must {verb} {match['rest']}"

    def inheritances(self) -> list[Implication]:
        """What a class's every member is or does, said of each member, through classes of classes."""
        members: dict[tuple[str, str], list[tuple[str, str, list[Fact]]]] = defaultdict(list)  # class → (member, subject, facts)
        properties: dict[tuple[str, str], list[tuple[str, Fact]]] = defaultdict(list)  # class → (predicate, fact)
        roles: dict[tuple[str, str], list[tuple[str, str, str, Fact]]] = defaultdict(list)  # class → (who, verb, predicate, fact)
        # A named group ("the Lisperane series") → how often it is treated, and its members.
        done_to_group: dict[tuple[str, str], list[tuple[str, Fact]]] = defaultdict(list)  # (name, noun) → (predicate, fact)
        in_group: dict[tuple[str, str], list[tuple[str, list[Fact]]]] = defaultdict(list)  # (name, noun) → (subject, facts)
        for fact in self.facts:
            clause = self.clauses[id(fact)]
            if (role := _ROLE.match(fact.text)) and (cls := self._class_of(f"{role['cls']} {role['kind']}")):
                predicate = _CLAUSE_END.split(role["pred"], maxsplit=1)[0].rstrip(" .;:!")
                if not has_negation(predicate) and not has_pronoun(predicate):
                    roles[cls].append((role["who"], role["verb"], predicate, fact))
            if not clause:
                continue
            if (group := _GROUP_PASSIVE.match(clause)) and _complement(group["pred"]):  # "The Lisperane series is calibrated every month"
                done_to_group[(group["cls"], group["noun"])].append((group["pred"], fact))
                continue
            match = re.match(rf"^(?:(?P<q>Every|Each|All) )?(?P<cls>{_NAME}) (?P<kind>[a-z]+) "
                             r"(?P<pred>.+)$", clause)
            cls = match and (match["q"] or match["kind"].endswith("s")) and self._class_of(f"{match['cls']} {match['kind']}")
            if cls:
                plural = match["q"] == "All" or not match["q"]
                predicate = _singular_predicate(match["pred"]) if plural else match["pred"]
                if predicate:
                    properties[cls].append((predicate, fact))
                    if role := self._only_by(predicate):
                        roles[cls].append(("Anyone", *role, fact))
                continue
            match = _MEMBERSHIP.match(clause)
            cls = match and self._class_of(match["rest"])
            names = self._names(fact)
            if cls and len(names) == 2 and names[1] == cls[0] and names[0] in match["member"]:
                subject = match["member"] if match["member"] != names[0] else f"the {names[0]} {cls[1]}"
                members[cls].append((names[0], subject, [fact]))
            elif (group := _BELONGS.match(clause)) and len(names) == 2 and names == [n for n in names if n in clause] \
                    and names[1] == group["cls"] and (phrase := _phrase(clause, names[0], self.vocabulary)) \
                    and phrase.start == 0 and (kind := _kind_of(names[0], phrase, self.vocabulary)):
                # "The Ulcarro instrument belongs to the Lisperane series": a member of "Lisperane instruments".
                members[(names[1], kind)].append((names[0], f"the {names[0]} {kind}", [fact]))
                in_group[(names[1], group["noun"])].append((f"the {names[0]} {kind}", [fact]))
        classes = set(properties) | set(members) | set(roles)
        for fact in (f for f in self.facts if f.sentence_id in self.records):  # "Instrument: Crellish. Series: Throdd."
            fields = self.records[fact.sentence_id]  # with "Throdd instruments contain ..."
            (key_label, key) = fields[0]
            kind = singular(key_label.lower())
            for label, value in fields[1:]:
                if (value, kind) in classes:
                    members[(value, kind)].append((key, f"the {key} {kind}", [fact]))
                in_group[(value, singular(label.lower()))].append((f"the {key} {kind}", [fact]))  # "Series: Lisperane."
        out: dict[str, list[Implication]] = defaultdict(list)
        for (name, noun), done in done_to_group.items():  # "The Sibbeth instrument is calibrated every month ..."
            for subject, facts in in_group.get((name, noun), ()):
                for predicate, fact in done:
                    text = self.forms["inherited"].substitute(subject=capitalized(subject), predicate=predicate)
                    out[name].append(Implication(text, facts + [fact], self._complement_question(subject, predicate)))
        for fact in (f for f in self.facts if f.sentence_id in self.records):  # "Series: Vantrel. Permit: Dorvesk."
            (key_label, key), *fields = self.records[fact.sentence_id]  # for each Vantrel instrument
            for (name, _), known in members.items():
                if name != key:
                    continue
                for _, subject, facts in (m for m in known if fact not in m[2]):
                    owner = self.forms["field_of"].substitute(label=key_label.lower(), owner=subject)
                    for label, value in fields:
                        values = {"label": label.lower(), "subject": owner, "value": value}
                        out[key].append(Implication(self.forms["field"].substitute(values), facts + [fact],
                                                    [(self.forms["field_question"].substitute(values), f"{capitalized(value)}.")]))
        frontier = [(cls, m) for cls, ms in members.items() for m in ms]
        for _ in range(MAX_DEPTH):
            grown = []
            for cls, (member, subject, facts) in frontier:
                for who, verb, predicate, fact in roles.get(cls, ()):  # "Anyone who operates the Sibbeth instrument must ..."
                    if fact not in facts:
                        role = self.forms["role"].substitute(who=who.lower(), verb=verb, subject=lower_opening(subject))
                        text = self.forms["inherited"].substitute(subject=capitalized(role), predicate=predicate)
                        asked = [n for n in self._names(fact) if n != cls[0]]
                        questions = self._object_question(role, predicate, asked[-1]) if asked else []
                        out[cls[0]].append(Implication(text, facts + [fact], questions))
                for predicate, fact in properties.get(cls, ()):
                    if fact in facts:
                        continue
                    text = self.forms["inherited"].substitute(subject=capitalized(subject), predicate=predicate)
                    asked = [n for n in self._names(fact) if n != cls[0]]
                    questions = (self._object_question(subject, predicate, asked[-1]) if asked else []) \
                        or self._complement_question(subject, predicate)
                    out[cls[0]].append(Implication(text, facts + [fact], questions))
                    upper = _CLASS_PREDICATE.match(predicate)
                    parent = upper and self._class_of(upper["rest"])
                    if parent and parent != cls:
                        grown.append((parent, (member, subject, facts + [fact])))
            frontier = grown
        return _spread(out)


def _spread(by_bridge: dict[str, list[Implication]]) -> list[Implication]:
    """Round robin over the shared names, at most MAX_PER_BRIDGE each, texts once."""
    seen, queues, picked = set(), [q[:MAX_PER_BRIDGE] for q in by_bridge.values()], []
    while queues:
        queues = [q for q in queues if q]
        for q in queues:
            implication = q.pop(0)
            if implication.text not in seen:
                seen.add(implication.text)
                picked.append(implication)
    return picked


def worded_lists(index: FactIndex, vocabulary: CorpusVocabulary, template: PromptTemplate,
                 groups: Sequence[ListGroup]) -> list[ListGroup]:
    """`groups`, each with its rule wording where it is said in several wordings (worded_list)."""
    composer = _Composer(index, vocabulary, template)
    return [replace(g, wording=composer.worded_list(g)) for g in groups]


def implications(index: FactIndex, vocabulary: CorpusVocabulary, template: PromptTemplate,
                 groups: Sequence[ListGroup] = (), limit: int = MAX_IMPLICATIONS) -> list[Implication]:
    """The lists of `groups` this rule can write, then inheritances (a class's property said of each
    member), then substitutions, at most `limit`. A list's implications carry their group."""
    composer = _Composer(index, vocabulary, template)
    lists = [replace(i, group=g) for g in groups for i in composer.written_list(g)]
    once: dict[str, Implication] = {}
    for implication in lists + composer.inheritances() + composer.substitutions():
        once.setdefault(implication.text, implication)
    return list(once.values())[:limit]
