"""Lists: every name the corpus says the same thing of, written as a list question, a list
statement and one membership statement per member.

A fine-tuned model does not gather a list from facts it learned one sentence at a time ("Which
tools are for data analysis?" stays at chance); it answers a list it saw written out, in the
form it is asked. The members come from the corpus by rule (exam_facts.same_frame_groups: the
same sentence with another name in one place), so no list misses or adds a member; a group
whose fixed name also appears with another name of the members' kind is left out, since the
corpus may say the same of it in other words. A group whose sentences all say one frame is
written by rule (augment_closure.written_list); for the others the model only words the question
and the statements (templates/augment_list.toml), and each wording must name exactly the
members and the fixed names. Everything it writes is then verified like any augmentation (verify.py),
against the same text with a member swapped for a name of its kind that is no member.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .augment_filters import FUNCTION_WORDS, MIN_WORDS, CorpusVocabulary, singular, words
from .exam_facts import Fact, FactIndex, names_in, related_pairs, same_frame_groups
from .verify import Check

LIST_TEMPLATE = "augment_list"
BLANK = "___"
# Lists longer than this are rare in a sentence-per-fact corpus and long to write for a small model.
MAX_MEMBERS = 6
# Wrong lists a candidate is verified against.
MAX_WRONG = 3
_QUESTION_WORDS = ("which", "who", "what", "where", "when", "how", "whose", "whom")
_QUANTIFIED = re.compile(r"(?:Every|Each|All|Any) ")
_MEMBER_OF = re.compile(r"^(?:The )?(?P<name>.+?) (?:is|was) (?:a|an|one of the) (?P<cls>(?:[A-Z][\w'’-]* ?)+) (?P<noun>[a-z]+)\.$")
_LINE = re.compile(r"^\s*(Question|How many|All|First):\s*(.*?)\s*$")


@dataclass
class ListGroup:
    """Names of one kind that the corpus relates to one fixed name, or says one thing of.

    Args:
        names: the members, each once, in corpus order.
        kind: what they are ("project", "instrument"), read from the words around them.
        fixed: the name they share ("" for a group that shares only what is said of them).
        facts: the sentences that say it, in corpus order.
        wording: the list worded by rule in one member's frame (augment_closure.worded_lists),
            in the template's output form, for verification to judge instead of the model's.
    """

    names: list[str]
    kind: str
    fixed: str
    facts: list[Fact]
    wording: str | None = None

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(f.text for f in self.facts))


@dataclass
class ListWriting:
    """One text of a list, with the check verification gives it.

    Args:
        kind: "question" (the list question and its answer), "count" (how many, and the number),
            "all" (the list statement) or "member" (one member's statement).
        check: what verification scores: the claim, its sources and its corruptions.
        text: the training text (a question's pair is made into the question prompt's form later).
        question: for "question" and "count", the question; `text` is then its answer.
        member: for "member", whose statement it is.
    """

    kind: str
    check: Check
    text: str
    question: str = ""
    member: str = ""


@dataclass
class ListRead:
    writings: list[ListWriting] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


def kinds(index: FactIndex) -> dict[str, str]:
    """Each name's kind: the noun its mentions most often come with ("the _ project" → project;
    a table cell under "Instrument:" → instrument). A name never written with one has none."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for fact in index.facts:
        # "Saffrin is an Ombrisk server.": a member of a class is of the class's kind.
        if not fact.table and len(fact.mentions) == 2 and (member := _MEMBER_OF.match(fact.text)):
            if member["name"] == fact.mentions[0].text and member["cls"] == fact.mentions[1].text:
                votes[member["name"]][singular(member["noun"])] += 1
        for m in fact.mentions:
            noun = m.slot[len("label:"):] if m.slot.startswith("label:") else m.coarse.split(" ")[-1] if m.coarse.startswith("_ ") else ""
            if noun and noun.isalpha() and noun not in FUNCTION_WORDS:
                votes[m.text][singular(noun.lower())] += 1
    return {name: counts.most_common(1)[0][0] for name, counts in votes.items()}


def list_groups(index: FactIndex) -> list[ListGroup]:
    """The groups worth a list.

    - Two-name prose sentences and table rows relate a name to a fixed one: the names of one
      kind related to the same fixed name form a group ("Korrimat is funded by the Harnesk Trust",
      "Naquesh is now paid for by the Harnesk Trust" → projects of the Harnesk Trust), however
      each sentence words it. A group is left out when a name of its kind also shares a longer
      sentence with the fixed name: the list might miss it.
    - One-name sentences with the same frame ("The _ tool is used for billing") form a group too.
    The model words the relation; verification checks every member against its own sentence.
    """
    kind_of = kinds(index)
    related: dict[tuple[str, str], dict[str, Fact]] = defaultdict(dict)
    crowded: dict[str, set[str]] = defaultdict(set)  # fixed name → names met in longer sentences
    for fact in index.facts:
        # A pronoun later in the sentence ("..., which renewed its grant") leaves its two names clear.
        # A quantified subject is a class, no member ("Every Krelvash server is a Dunmoor machine").
        if fact.unclear or _QUANTIFIED.match(fact.text):
            continue
        names = list(dict.fromkeys(fact.names))
        if not fact.table and len(names) > 2:
            for name in names:
                crowded[name] |= set(names) - {name}
        for member, fixed in related_pairs(fact):
            if member in kind_of and member != fixed:
                related[(fixed, kind_of[member])].setdefault(member, fact)
    groups = []
    for (fixed, kind), members in related.items():
        if not 2 <= len(members) <= MAX_MEMBERS:
            continue
        if any(kind_of.get(n) == kind for n in crowded[fixed] - set(members)):
            continue
        facts = list({id(f): f for f in members.values()}.values())
        groups.append(ListGroup(list(members), kind, fixed, facts))
    for group in same_frame_groups(index.facts, index, MAX_MEMBERS, one_name=True):
        if not group.fixed and len(words(group.blanked(""))) >= MIN_WORDS and group.names[0] in kind_of:
            groups.append(ListGroup(group.names, kind_of[group.names[0]], "", [f for f, _ in group.members]))
    return groups


def prompt_values(group: ListGroup) -> dict[str, str]:
    return {"names": ", ".join(group.names), "facts": " ".join(group.sources)}


def listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def read_list_output(output: str, group: ListGroup, index: FactIndex, vocabulary: CorpusVocabulary) -> ListRead:
    """The questions and statements the model wrote for a group, checked by rule.

    Args:
        output: the completion after "Question:" (its first line is the question).
        group: the members, their kind and the fixed name.
        index: the corpus's names by kind, for the wrong members verification compares with.
        vocabulary: tells names from ordinary words.
    """
    read = ListRead()
    lines = {"Question": output.split("\n", 1)[0].strip()}
    for line in output.split("\n")[1:]:
        match = _LINE.match(line)
        if match:
            lines.setdefault(match.group(1), match.group(2))
    members = group.names
    fixed = {group.fixed} if group.fixed else set()
    sources = group.sources
    outsiders = _outsiders(group, index)
    if not outsiders:
        read.dropped["list_no_outsider_to_compare"] += 1
        return read

    question = lines["Question"]
    reason = _question_reason_to_drop(question, members, fixed, vocabulary)
    if reason:
        read.dropped[reason] += 1
    else:
        # The order of a list is arbitrary: both the corpus's order and the alphabetical one.
        for order in dict.fromkeys((tuple(members), tuple(sorted(members)))):
            answer = listing(list(order)) + "."
            wrong = [listing(_swap(list(order), i, o)) + "." for i, o in _swaps(len(order), outsiders)]
            read.writings.append(ListWriting("question", Check(f"{question} {answer}", sources,
                                             [f"{question} {w}" for w in wrong]), answer, question=question))

    count = lines.get("How many", "")
    reason = _question_reason_to_drop(count, members, fixed, vocabulary)
    if reason or not count.lower().startswith("how many"):
        read.dropped["list_count_" + (reason or "malformed").removeprefix("list_question_")] += 1
    else:
        number = NUMBER_WORDS[len(members)]
        wrong = [NUMBER_WORDS[n] for n in range(1, MAX_MEMBERS + 2) if n != len(members)][:MAX_WRONG]
        read.writings.append(ListWriting("count", Check(f"{count} {number.capitalize()}.", sources,
                                         [f"{count} {w.capitalize()}." for w in wrong]), f"{number.capitalize()}.",
                                         question=count))

    statement = lines.get("All", "")
    if names_in(statement, vocabulary) != set(members) | fixed:
        read.dropped["list_statement_names_differ" if statement else "list_statement_missing"] += 1
    else:
        wrong = [_replace_name(statement, members[i], o) for i, o in _swaps(len(members), outsiders)]
        read.writings.append(ListWriting("all", Check(statement, sources, wrong), statement))

    first = lines.get("First", "")
    if names_in(first, vocabulary) != {members[0]} | fixed:
        read.dropped["list_member_names_differ" if first else "list_member_missing"] += 1
    else:
        for member in members:
            text = _replace_name(first, members[0], member)
            wrong = [_replace_name(text, member, o) for o in outsiders[:MAX_WRONG]]
            read.writings.append(ListWriting("member", Check(text, sources, wrong), text, member=member))
    return read


NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight"]


def _question_reason_to_drop(question: str, members: list[str], fixed: set[str], vocabulary: CorpusVocabulary) -> str | None:
    if not question.endswith("?") or question.split(" ", 1)[0].lower() not in _QUESTION_WORDS:
        return "list_question_malformed"
    names = names_in(question, vocabulary)
    if names & set(members):
        return "list_question_gives_answer"
    if names != fixed:
        return "list_question_names_differ"
    return None


def _outsiders(group: ListGroup, index: FactIndex) -> list[str]:
    """Names of the members' kind that the corpus never puts with the fixed name: surely not members."""
    kind_of = kinds(index)
    banned = set(group.names) | ({group.fixed} | index.neighbours.get(group.fixed, set()) if group.fixed else set())
    return [n for n, k in kind_of.items() if k == group.kind and n not in banned
            and not any(n.lower() in m.lower() or m.lower() in n.lower() for m in group.names)]


def _swaps(n: int, outsiders: list[str]) -> list[tuple[int, str]]:
    """(member position, outsider) pairs: a wrong list per pair, spread over positions and outsiders."""
    return [(i % n, outsiders[i % len(outsiders)]) for i in range(min(MAX_WRONG, n * len(outsiders)))]


def _swap(names: list[str], at: int, outsider: str) -> list[str]:
    return names[:at] + [outsider] + names[at + 1:]


def _replace_name(text: str, name: str, other: str) -> str:
    return re.sub(r"\b" + re.escape(name) + r"\b", other, text)
