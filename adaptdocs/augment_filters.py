"""Parsing and filtering of what the augmenting model writes.

A small model copies, drifts and invents; these checks keep only statements that are new,
complete, about the source, and free of names the corpus never mentions. Every drop is
counted by its reason, so a poor template shows up as numbers rather than as bad training data.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from .sentences import record_fields, split_sentences

MIN_WORDS = 4
MAX_WORDS = 60
NEAR_DUPLICATE_JACCARD = 0.9

# Reasons, in the order they are checked (the first five only for question-answer pairs).
REASONS = (
    "count_without_number",
    "lost_quantifier",
    "answer_in_question",
    "answer_not_in_source",
    "asks_too_little",
    "empty",
    "too_short",
    "too_long",
    "incomplete",
    "copy",
    "example_echo",
    "invented_names",
    "foreign_names",
    "lost_names",
    "missing_names",
    "self_relation",
    "wrong_kind",
    "lowercased_name",
    "unsupported_membership",
    "negation_changed",
    "repetition",
    "invented_comparison",
    "lost_comparison",
    "wrong_comparison",
    "wrong_direction",
    "unsupported_identity",
    "relation_changed",
    "lost_possessed",
    "invented_identity",
    "invented_person",
    "qualifier_changed",
    "unlinked_names",
    "duplicate",
    "near_duplicate",
)

# Capitalised at the start of a statement these are ordinary words, never entity names,
# even when a small corpus happens not to contain them in lower case.
FUNCTION_WORDS = frozenset(
    """a an the this that these those there here it its they their them he she his her we our you your i
    every each all some no none any both either neither most many few several one two three
    and or but so thus therefore hence because since if when while although though also then
    in on at of for from to by with without within into onto over under between among about after before
    is are was were be been being has have had do does did can could may might must shall should will would
    not only just more less fewer same other another such which who whom whose what where why how
    yes as than like unlike""".split()
)

# Words that turn a statement around: a restatement must keep them, and nothing may add them.
NEGATIONS = frozenset("not no never none nobody nothing neither nor without cannot".split())
# Words before a name that make the word after it the name's kind: "the Gulmesh tool", "an Ombrisk server".
_DETERMINERS = frozenset("the a an every each this that our its their".split())
_LABEL_BEFORE = re.compile(r"\b([A-Z][a-z]+):\s*$")
_FIELD = re.compile(r"\s*([A-Z][a-z]+):\s+([A-Z][A-Za-z0-9]*)")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*")
_BULLET = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,3}[.)])\s+")
_THAN = re.compile(r"\bthan\b", re.IGNORECASE)
# Comparatives and their opposites: "A is faster than B" is "B is slower than A".
_OPPOSITES = [("faster", "slower"), ("quicker", "slower"), ("larger", "smaller"), ("bigger", "smaller"),
              ("older", "newer"), ("older", "younger"), ("more", "less"), ("more", "fewer"), ("higher", "lower"),
              ("longer", "shorter"), ("heavier", "lighter"), ("cheaper", "dearer"), ("north", "south"),
              ("east", "west"), ("above", "below"), ("before", "after"), ("better", "worse"), ("earlier", "later"),
              ("warmer", "colder"), ("wider", "narrower"), ("deeper", "shallower"), ("stronger", "weaker")]
_COMPARATIVES = {w for pair in _OPPOSITES for w in pair}
_FIRST_OPPOSITE: dict[str, str] = {}
for _pair in _OPPOSITES:
    for _a, _b in (_pair, _pair[::-1]):
        _FIRST_OPPOSITE.setdefault(_a, _b)


def opposite(word: str) -> str | None:
    """A comparative's opposite, the first pair listed for it: "faster" → "slower", "more" → "less"."""
    return _FIRST_OPPOSITE.get(word)
# "the most patched", "the oldest": a ranking no single fact makes, unless the source makes it.
_SUPERLATIVES = {"most", "least", "best", "worst"} | {
    w[:-2] + "est" for w in _COMPARATIVES if w.endswith("er") and w not in ("better", "after")}


def _comparison(text: str, names: set[str]) -> tuple[str, list[str]] | None:
    """The comparative word of a sentence and the order its names come in, if it compares."""
    found = [w.lower() for w in words(text) if w.lower() in _COMPARATIVES]
    order = list(dict.fromkeys(w for w in words(text) if w in names))
    return (found[0], order) if found and len(order) >= 2 else None


def _compared(source: str, names: set[str]) -> list[tuple[str, str, str]]:
    """Each comparison of the source: the last name before its "than", the first after it, and
    the words before "than" that say how they compare ("faster", "earlier", "more sensitive")."""
    found = []
    for sentence in split_sentences(source):
        ws = words(sentence)
        for i, w in enumerate(ws):
            if w.lower() != "than" or i == 0:
                continue
            before = [n for n in ws[:i] if n in names]
            after = [n for n in ws[i + 1 :] if n in names]
            if before and after:
                # "more sensitive than": the degree word is half the comparison ("sensitive to" is none).
                degree = ws[i - 2].lower() + " " if i >= 2 and ws[i - 2].lower() in ("more", "less", "fewer") else ""
                found.append((before[-1], after[0], degree + ws[i - 1].lower()))
    return found


def _superlatives(text: str) -> set[str]:
    return {w.lower() for w in words(text)} & _SUPERLATIVES


def comparison_consistent(statement: str, source: str, names: set[str]) -> bool:
    """Whether a comparison keeps its sense: the same word in the same order, or the opposite
    word with the two names swapped."""
    before, after = _comparison(source, names), _comparison(statement, names)
    if before is None or after is None:
        return True
    (word, order), (new_word, new_order) = before, after
    opposite = any({word, new_word} == set(pair) for pair in _OPPOSITES)
    if new_order[:2] == order[:2]:
        return new_word == word
    return new_order[:2] == order[1::-1] and opposite

def negated(text: str) -> bool:
    """Whether `text` says "not" in some form ("never", "don't", "without", ...)."""
    return any(w.lower() in NEGATIONS or w.lower().endswith("n't") for w in words(text))


def repeated_phrase(statement: str, source: str) -> str | None:
    """A two-word phrase with a content word that the statement says more often than its source,
    or None: the loop of a small model ("the end of the end of the week") or a kind given to
    two names ("the Saffrin server is a member of the Ombrisk server")."""
    def counts(text: str) -> Counter:
        low = [w.lower() for w in words(text)]
        return Counter(p for p in zip(low, low[1:]) if not (p[0] in FUNCTION_WORDS and p[1] in FUNCTION_WORDS))
    have = counts(source)
    for phrase, n in counts(statement).items():
        if n > 1 and n > have[phrase]:
            return " ".join(phrase)
    return None


_SAME_IN_PLURAL = frozenset("series species means".split())


def capitalized(text: str) -> str:
    """The text with its first letter capitalised, to open a sentence."""
    return text[:1].upper() + text[1:]


def lower_opening(text: str) -> str:
    """A phrase's opening article lower-cased, to stand inside a sentence ("The Kelm tool" → "the Kelm tool")."""
    first, _, rest = text.partition(" ")
    return f"{first.lower()} {rest}" if first in ("The", "A", "An") else text


def singular(word: str) -> str:
    """A noun's singular, by its ending: "tools" → "tool", "companies" → "company"; "series" stays."""
    if word.lower() in _SAME_IN_PLURAL:
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def plural(word: str) -> str:
    """A noun's plural, by its ending: "tool" → "tools", "company" → "companies", "box" → "boxes",
    "person" → "people"; "series" stays."""
    if word.lower() in _SAME_IN_PLURAL:
        return word
    if word == "person":
        return "people"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "sh", "ch", "x", "z")) else "s")


def kind_stem(word: str) -> str:
    return singular(word.lower())


def _between(text: str, first: str, second: str) -> str | None:
    """What `text` says between the name `first` and a later `second`, or None when it lacks either."""
    match = re.search(rf"\b{re.escape(first)}\b(.*?)\b{re.escape(second)}\b", text)
    return match.group(1) if match else None


def _relation(text: str, pair: tuple[str, str], kinds: set[str], whole: bool = False) -> tuple[bool, set[str]] | None:
    """How `text` relates the two names of `pair`, in their order: (passive, the stems of the
    words between them), or None when it does not name both, in this order, in one sentence
    (in the text, when `whole`: a pair's answer and question are two sentences)."""
    for sentence in [text] if whole else _records_joined(split_sentences(text)):
        link = _between(sentence, *pair)
        if link is not None:
            between = [w.lower() for w in words(link) if not w[0].isupper()]  # names are no relation
            stems = {stem(w) for w in between if w not in FUNCTION_WORDS and kind_stem(w) not in kinds}
            # A record's label names the role of the value after it: "Tool: Kotrizo. Owner: Zarnoth."
            # reads as "Kotrizo is owned by Zarnoth".
            label = _LABEL_BEFORE.search(link)
            if label:
                return True, stems | {stem(label[1].lower())}
            return "by" in between or bool(_PASSIVE.search(link)), stems
    return None


# Irregular past forms, to their present stem: "led by" and "leads" say the same relation.
_IRREGULAR = dict(pair.split(":") for pair in """led:lead held:hold kept:keep built:build made:make sent:send paid:pay
    brought:bring bought:buy taught:teach ran:run wrote:write written:write gave:give given:give took:take
    taken:take found:find met:meet sold:sell told:tell known:know shown:show grown:grow drawn:draw seen:see
    begun:begin chosen:choose spoken:speak stood:stand sat:sit""".split())


# "is run from", "was kept in": a passive without its agent is still a passive.
_PASSIVE = re.compile(r"\b(?:is|are|was|were|been|being|be)\s+(?:\w+ly\s+)?(?:\w+ed|"
                      + "|".join(sorted(set(_IRREGULAR) | {"run", "put", "set", "cut", "read", "shut"})) + r")\b", re.IGNORECASE)


def _records_joined(sentences: list[str]) -> list[str]:
    """Sentences, with the fields of one record ("Tool: Kotrizo." "Owner: Zarnoth.") joined again."""
    joined: list[str] = []
    for sentence in sentences:
        if joined and _FIELD.match(sentence) and _FIELD.match(joined[-1]):
            joined[-1] += " " + sentence
        else:
            joined.append(sentence)
    return joined


def _closest_sentence(statement: str, source: str) -> str:
    """The sentence of `source` whose content words the statement shares most."""
    said = {stem(w.lower()) for w in words(statement) if w.lower() not in FUNCTION_WORDS}
    return max(split_sentences(source) or [source],
               key=lambda s: len(said & {stem(w.lower()) for w in words(s) if w.lower() not in FUNCTION_WORDS}))


def stem(word: str) -> str:
    """owns, owned, owner, owning → own; led, leads → lead; uses, used → us; studies, study → studi;
    processes, process → process. Crude, and only ever compared with itself."""
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix in ("ies", "ied", "ing", "ed", "er", "es", "s", "y"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            if suffix == "s" and word.endswith("ss") or suffix == "y" and word[-2] in "aeiou":
                continue  # "process", "key": no plural, no "-y" to turn into "-i"
            word = word[: -len(suffix)] + ("i" if suffix in ("ies", "ied", "y") else "")
            break
    return word.removesuffix("e") if len(word) > 2 else word


def voice_consistent(statement: str, source: str, names: set[str], kinds: set[str] = frozenset()) -> bool:
    """Whether a statement that relates two names of its source with the same verb keeps the
    relation's direction: in the same order in the same voice, or in the other order in the other
    voice ("The Plosk tool is owned by the Mubadra team" → "The Mubadra team owns the Plosk tool",
    never "... the Plosk tool owns the Mubadra team" or "Plosk. Who owns the Mubadra team?").

    Args:
        statement: the written text (a question-answer pair in statement order).
        source: the sentences it was written from.
        names: the names of both.
        kinds: kind nouns ("team", "tool"), which stand between names without being the relation.
    """
    said = [n for n in dict.fromkeys(words(statement)) if n in names and n in words(source)]
    for a, b in ((a, b) for i, a in enumerate(said) for b in said[i + 1:]):
        before = _relation(source, (a, b), kinds) or _relation(source, (b, a), kinds)
        now = _relation(statement, (a, b), kinds, whole=True)
        link = _between(source, a, b) or _between(source, b, a) or ""
        if before is None or now is None or not before[1] & now[1] or _THAN.search(link):
            continue  # a comparison's direction is comparison_consistent's
        same_order = _relation(source, (a, b), kinds) is not None
        if (before[0] == now[0]) != same_order:
            return False
    return True


# Relations said in other words: a membership ("belongs to the Lisperane series", "is a Lisperane
# instrument", "the Lisperane series includes it"), an ownership ("owned by", "belongs to"). The
# direction is voice_consistent's and category_consistent's business.
_RELATION_GROUPS = (frozenset(stem(w) for w in "belongs member part includes contains kind type".split()),
                    frozenset(stem(w) for w in "owns belongs".split()))


def relation_changed(statement: str, source: str, names: set[str], kinds: set[str] = frozenset()) -> bool:
    """Whether a statement relates two names of its one source sentence by another relation than
    the source does: "The Sibbeth instrument was bought by the Naquesh project" from "... is used by
    the Naquesh project, and it was bought with the same grant". The words the source puts between
    the two names must be said (a stem of them, anywhere: "The Vostra building is where the Mubadra
    team sits"), or both relations be of one group above (a bare "is a" counts as a membership). A
    synonym is lost with it ("based at" → "the home of"): a small model's looser words are more
    often wrong than right.

    Args:
        statement: the written text (a question-answer pair in statement order).
        source: the sentence it was written from.
        names: the names of both.
        kinds: kind nouns ("team", "tool"), which stand between names without being the relation.
    """
    if _THAN.search(source):
        return False  # comparisons: comparison_consistent, lost_comparison
    said_stems = {stem(w) for w in words(statement) if w not in names and w.lower() not in FUNCTION_WORDS}
    said = [n for n in dict.fromkeys(words(statement)) if n in names and n in words(source)]
    for a, b in ((a, b) for i, a in enumerate(said) for b in said[i + 1:]):
        before = _relation(source, (a, b), kinds) or _relation(source, (b, a), kinds)
        now = _relation(statement, (a, b), kinds, whole=True) or _relation(statement, (b, a), kinds, whole=True)
        if before is None or now is None or not before[1] or before[1] & said_stems:
            continue
        membership = _RELATION_GROUPS[0]
        if not any(before[1] & group and (now[1] & group or group is membership and not now[1])
                   for group in _RELATION_GROUPS):
            return True
    return False


_CATEGORY = re.compile(r"\b(?:is|are)\s+(?:a|an|one of)\b|\b(?:every|each|all)\b", re.IGNORECASE)


def lost_link(statement: str, sources: Sequence[str], vocabulary: "CorpusVocabulary") -> bool:
    """Whether a join of two facts hands a property across a link it no longer says.

    Two facts share a name (the bridge: "The Quaddix tool is owned by the Dolvane team" and "Tool:
    Lagle. Owner: Dolvane. Purpose: billing."). A statement that leaves the bridge out may skip a
    category link, for what holds of every C holds of each C ("Every Krelvash server is a Dunmoor
    machine" + "All Dunmoor machines are backed up nightly" → "The Krelvash server is backed up
    nightly"; "Tool: Kelder. Series: Orrin." + "Orrin tools are patched monthly"), but any other link
    it must still say: "the Zelkor tool is owned by a team that works
    in ...", never "Quaddix is a billing tool".
    """
    if len(sources) != 2:
        return False
    bridge = vocabulary.names(sources[0]) & vocabulary.names(sources[1])
    named = vocabulary.names(statement)
    if not bridge or named & bridge:
        return False
    said = _relation_stems(statement, vocabulary)
    for link, other in (sources, sources[::-1]):
        category = _CATEGORY.search(link) or _CATEGORY.search(other) or any(
            re.search(rf"\b{re.escape(b)}\s+[a-z]+s\b", other) for b in bridge)  # "Orrin tools are ..."
        if vocabulary.names(link) & named and not category and not _relation_stems(link, vocabulary) & said:
            return True
    return False


def _relation_stems(text: str, vocabulary: "CorpusVocabulary") -> set[str]:
    """Stems of what `text` says besides its names and their kinds ("owned" → own; "Owner:" → own)."""
    names = vocabulary.names(text)
    return {stem(w.lower()) for w in words(text)
            if w not in names and w.lower() not in FUNCTION_WORDS and kind_stem(w) not in vocabulary.every_kind}


# Words that limit how far a statement holds: a restatement that drops one claims more than its source.
HEDGES = frozenset("usually mostly often sometimes always only rarely generally mainly partly almost nearly "
                   "roughly approximately typically normally".split())


def _hedges(text: str) -> set[str]:
    return {w.lower() for w in words(text)} & HEDGES


_IS_A = re.compile(r"\b(?:is|are)\s+(?:a|an|one of)\b", re.IGNORECASE)
_IDENTITY = re.compile(r"\b(?:is|are)\s+the\b", re.IGNORECASE)
_INCLUDES = re.compile(r"\b(?:includes?|including|one of|among|such as|contains?)\b", re.IGNORECASE)


def category_consistent(statement: str, source: str, names: set[str]) -> bool:
    """Whether a statement keeps the direction of a membership its source states ("Grelby is an
    Ombrisk server", "Every Quimbast server is a Hulvo machine"): member first, never as an identity
    ("... are the Hulvo machines"); or the group first, with "include", "one of", "among"
    ("Ombrisk servers include Grelby"), never "The Ombrisk server is a product of Grelby"."""
    for sentence in split_sentences(source):
        ordered = [w for w in dict.fromkeys(words(sentence)) if w in names]
        for i, member in enumerate(ordered):
            for group in ordered[i + 1:]:
                link = _between(sentence, member, group)
                if link is None or not _IS_A.search(link):
                    continue
                forward, backward = _between(statement, member, group), _between(statement, group, member)
                if forward is not None and _IDENTITY.search(forward) and not _IS_A.search(forward):
                    return False
                if backward is not None and forward is None and not _INCLUDES.search(backward):
                    return False
    return True


_COPULA_WORDS = frozenset("is are was were a an the one of".split())


def identity_supported(statement: str, source: str, names: set[str], kinds: set[str] = frozenset()) -> bool:
    """Whether "What is X? Y." (in statement order) has a source sentence that says X is Y: the two
    names joined by nothing but "is", articles and kind nouns ("Nuxom is a Tazzle server"), not by
    another relation ("Who is Tamsa Prunde? Trimbelo." from "The Trimbelo team is led by Tamsa
    Prunde"). Other statements are not its business."""
    question, mark, answer = statement.partition("?")
    match = _COPULA_QUESTION.match(question + mark)
    if not match or not _asks_what_a_name_is(question + mark):
        return True
    subject = [w for w in words(match["subject"]) if w in names]
    answer = [w for w in words(answer) if w in names]
    if not subject or not answer:
        return True
    for sentence in split_sentences(source):
        for a, b in ((subject[-1], answer[0]), (answer[-1], subject[0])):
            link = _between(sentence, a, b)
            if link is not None and all(w.lower() in _COPULA_WORDS or kind_stem(w) in kinds for w in words(link)):
                return True
    return False


def words(text: str) -> list[str]:
    """The words of `text`, possessive 's removed ("Plosk's" → "Plosk")."""
    return [re.sub(r"['’]s$", "", w) for w in _WORD.findall(text)]


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: the form duplicates are compared in."""
    return " ".join(w.lower() for w in words(text))


def token_set(text: str) -> frozenset[str]:
    return frozenset(normalise(text).split())


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def split_statements(output: str) -> list[str]:
    """Split one model output into single statements: one per line, then one per sentence.

    List bullets and numbering are removed. A fragment that is not a sentence stays as it is,
    so the filters can count it.
    """
    statements = []
    for line in output.splitlines():
        line = _BULLET.sub("", line).strip()
        if line:
            statements.extend(split_sentences(line))
    return statements


_QUESTION_ANSWER = re.compile(r"^\s*Q:\s*(?P<question>[^?]+\?)\s*A:\s*(?P<answer>.+?)\s*$")


def split_question_answers(output: str) -> list[tuple[str, str]]:
    """The "Q: <question>? A: <answer>" lines of one model output, as (question, answer) pairs;
    an answer gets a closing full stop if it lacks one. Other lines are not pairs and are dropped."""
    pairs = []
    for line in output.splitlines():
        match = _QUESTION_ANSWER.match(line)
        if match:
            answer = match["answer"]
            pairs.append((match["question"].strip(), answer if answer.endswith((".", "!", "?")) else answer + "."))
    return pairs


def content_words(text: str) -> set[str]:
    """Lower-cased words and numbers of `text`, function words left out."""
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in FUNCTION_WORDS}


_ALTERNATIVES = re.compile(r"\bor\b", re.IGNORECASE)


# What a name has, as the subject of its sentence: "The Tivvaro station's canteen now opens ...",
# "The canteen at the Tivvaro station now opens ..." (owner, the thing it has, what is said of that).
_POSSESSED = re.compile(r"^(?:The |the )?(?P<name>[A-Z][\w-]*)(?: [a-z]+)?['’]s (?P<owned>[a-z]+) (?P<said>.+)$")
_OWNED_AT = re.compile(r"^(?:The|A|An) (?P<owned>[a-z]+) (?:of|at|in|on) (?:the )?(?P<name>[A-Z][\w-]*)(?: [a-z]+)? "
                       r"(?P<said>[a-z].+)$")
# The people of a conversation, not of a fact ("Which worm tracks do you track?"); "I" and "US"
# only as written.
_SPEAKERS = re.compile(r"\b(?i:you|your|yours|we|our|ours)\b|\b(?:I|me|my|us)\b")
_THERE_IS = re.compile(r"^(?:There|It|This|That) (?:is|are)\b")
# An appositive says what a thing is ("Krimbo, a billing tool, is ...").
_APPOSITIVE = re.compile(r", (?:a|an) [a-z]")


def lost_possessed(statement: str, source: str, names: set[str]) -> bool:
    """Whether `statement` says of a name what its source says of something the name has: "The
    Tivvaro station now opens at eight" from "The canteen at the Tivvaro station now opens at
    eight". Only when it says the same of it (the content words after the subject; "The Krimbo
    server is backed up every night" from "The backup of the Krimbo server runs every night" says
    another thing, in other words)."""
    match = _POSSESSED.match(source) or _OWNED_AT.match(source)
    if not match or match["name"] not in names or source.count(match["name"]) > 1:
        return False
    said = {stem(w) for w in words(statement)}
    return (match["name"] in words(statement) and stem(match["owned"]) not in said
            and {stem(w) for w in content_words(match["said"])} <= said)


def invented_identity(statement: str, source: str) -> bool:
    """Whether a restatement says a thing is a kind of thing ("The laser is a Throdd instrument.")
    where its source says of nothing what it is ("Throdd instruments contain a strong laser.")."""
    return ("?" not in statement and bool(_IS_A.search(statement)) and not _THERE_IS.match(statement)
            and not _IS_A.search(source) and not _MEMBERSHIP_OR_KIND.search(source) and not _APPOSITIVE.search(source))


def invented_speaker(statement: str, source: str, entities: set[str]) -> bool:
    """Whether a restatement brings in a "you" or "we" of a sentence that opens with a thing
    (an article, or one of `entities`: its names); an instruction ("Book the instrument in the
    logbook.") speaks to a "you" it does not write."""
    first = words(source)[0] if words(source) else ""
    return (first.lower() in ("the", "a", "an") or first in entities) \
        and bool(_SPEAKERS.search(statement)) and not _SPEAKERS.search(source)


def pair_reason_to_drop(question: str, answer: str, source: str) -> str | None:
    """Why a question-answer pair says nothing the filters for statements would catch, or None.

    A small model answers with the question's own words ("Who is Nimra Sesh? Nimra Sesh.") or
    with words from nowhere ("How many offices open at seven? 12."): the answer must add a word
    to the question, unless the question offers the alternatives ("Which is older, A or B?"),
    and take at least one from the source.
    """
    if _HOW_MANY.search(question) and not _COUNT.search(answer):
        return "count_without_number"  # "How many Korbulo teams are there? Trimbelo."
    universal = _UNIVERSAL.findall(source)
    if any(words(answer) == [name] for name in universal):
        return "lost_quantifier"  # "Which is a Dunmoor machine? Yoppel." from "Every Yoppel server is ..."
    if _DEFINITION.match(question) and any(name in words(answer) for name in universal):
        return "lost_quantifier"  # "What is a Dunmoor machine? A Yoppel server.": one kind of them, no definition
    answer_words = content_words(answer)
    asked = {stem(w) for w in content_words(question)}
    if {stem(w) for w in answer_words} <= asked and not _ALTERNATIVES.search(question):
        return "answer_in_question"
    if not answer_words & content_words(source):
        return "answer_not_in_source"
    return None


# A statement of membership needs a source that says what kind or group a thing belongs to.
_MEMBERSHIP = re.compile(r"\b(?:members?\s+of|part\s+of)\b", re.IGNORECASE)
_MEMBERSHIP_OR_KIND = re.compile(r"\b(?:members?|belongs?|part\s+of|one\s+of|includes?|is\s+an?|are)\b", re.IGNORECASE)
# "Every Yoppel server", "all Dunmoor machines": a name of a class, answered as the class ("Yoppel servers").
_UNIVERSAL = re.compile(r"\b(?i:every|each|all)\s+([A-Z][\w'’-]*)\s+[a-z]")
# A question asking what a kind of thing is ("What is a Dunmoor machine?").
_DEFINITION = re.compile(r"^(?i:what (?:is|are) an?) [\w'’ -]+\?$")
_HOW_MANY = re.compile(r"\bhow\s+(?:many|much)\b", re.IGNORECASE)
_COUNT = re.compile(r"\d|\b(?:no|none|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                    r"twenty|thirty|forty|fifty|hundred|thousand|dozen|several|few|many|all|every)\b", re.IGNORECASE)

# A question that ends in its preposition ("Who is the Mubadra team led by?") asks for what follows it.
_STRANDED = re.compile(r"\b(?:by|for|to|in|on|at|with|from|of|than|about)\s*\?$", re.IGNORECASE)


def statement_order(question: str, answer: str) -> str:
    """A question-answer pair in the order of a statement, as the filters read it.

    The answer takes the place of the question's unknown. That usually opens the question, so the
    answer goes first and the comparison check applies: "Moldrup. Which server is slower than the
    Vantry server?" keeps the sense of "Vantry is faster than Moldrup". A question ending in its
    preposition asks for what follows it ("Who is the Mubadra team led by? Yarvel Tumsk."), and so
    does one asking what a name is ("What is Nuxom? A Tazzle server.").
    """
    return f"{question} {answer}" if _STRANDED.search(question) or _asks_what_a_name_is(question) else f"{answer} {question}"


_COPULA_QUESTION = re.compile(r"^\s*(?:what|who|which(?:\s+\w+)?)\s+(?:is|are)\s+(?P<subject>[^?]+)\?\s*$", re.IGNORECASE)


def _asks_what_a_name_is(question: str) -> bool:
    """"What is Nuxom?", "What is the Saffrin server?": the answer is what follows "is". Not "Which
    server is a Skelvy machine?", which asks for a member."""
    match = _COPULA_QUESTION.match(question)
    if not match:
        return False
    subject = words(match["subject"])
    return bool(subject) and subject[0].lower() not in ("a", "an") and all(
        w.lower() == "the" or w[0].isupper() for w in subject[:-1])


def _sentence_starts(text: str) -> set[int]:
    """Indices (in words(text)) of words that begin a sentence or a "Label: value" field."""
    starts, index = {0}, 0
    for piece in re.split(r"(?<=[.!?:])\s+", text):
        index += len(words(piece))
        starts.add(index)
    return starts


class CorpusVocabulary:
    """What the corpus says, for telling names from ordinary words.

    Args:
        texts: every sentence of the corpus.
    """

    def __init__(self, texts: Iterable[str]):
        self.lower: set[str] = set()  # every word, lower-cased
        self.common: set[str] = set()  # words the corpus writes in lower case somewhere
        texts = list(texts)
        for text in texts:
            for w in words(text):
                self.lower.add(w.lower())
                if w[0].islower():
                    self.common.add(w)
        # The kind the corpus gives each name ("the Gulmesh tool" → tool), to catch a name given
        # another kind ("the Gulmesh team").
        self.kinds: dict[str, set[str]] = defaultdict(set)
        for text in texts:
            for name, kind in self._named_kinds(text):
                self.kinds[name].add(kind)
        self.every_kind = {k for kinds in self.kinds.values() for k in kinds}
        # Names mentioned together in one sentence: the corpus's entity graph.
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        # Names the corpus capitalises inside a sentence, where capitals are not the sentence's.
        self.inside_names: set[str] = set()
        for text in texts:
            names = self.names(text)
            for name in names:
                self.neighbours[name] |= names - {name}
            starts = _sentence_starts(text)
            self.inside_names |= {w.lower() for i, w in enumerate(words(text)) if i not in starts and w in names}
            # A record's values name things too ("Tool: Krimbo. Owner: Ispaneth.").
            self.inside_names |= {w.lower() for _, value in record_fields(text) or () for w in words(value) if w in names}

    def lowercased_name(self, text: str) -> bool:
        """Whether `text` writes a name in lower case ("Which team is the bestomir team?"): the
        corpus never does, and a small model that does has lost track of what the name is."""
        return any(w[0].islower() and w not in self.common and w in self.inside_names for w in words(text))

    def linked(self, a: str, b: str) -> bool:
        """Whether the corpus connects two names directly or through one shared third name."""
        return b in self.neighbours[a] or bool(self.neighbours[a] & self.neighbours[b])

    def entity_names(self, text: str) -> set[str]:
        """The names of `text` the corpus capitalises inside a sentence somewhere: what makes a
        sentence state a fact about named entities ("Tavrune is used for data analysis"), unlike an
        instruction opening with a verb ("Book it in the logbook first")."""
        return {n for n in self.names(text) if n.lower() in self.inside_names}

    def names(self, text: str) -> set[str]:
        """Capitalised words of `text` that are names: not function words, and not ordinary
        words that only happen to open a sentence."""
        found = set()
        starts = _sentence_starts(text)
        # Field labels of table rows ("Owner: Ispaneth.") are headers, not names.
        labels = set(re.findall(r"([A-Za-z][A-Za-z0-9]*)\s*:", text))
        for i, w in enumerate(words(text)):
            if not w[0].isupper() or w.lower() in FUNCTION_WORDS or w in labels:
                continue
            if i in starts and w.lower() in self.common:
                continue
            found.add(w)
        return found

    def _named_kinds(self, text: str) -> list[tuple[str, str]]:
        """(name, kind) for every determiner + name + lower-case word of `text`."""
        ws, names = words(text), self.names(text)
        found = [(name, kind_stem(kind)) for det, name, kind in zip(ws, ws[1:], ws[2:])
                 if det.lower() in _DETERMINERS and name in names and kind[0].islower() and kind.lower() not in FUNCTION_WORDS]
        # A record's first field names the kind of its value ("Tool: Vendrak. Owner: Trimbelo." →
        # Vendrak is a tool); the others name roles.
        record = _FIELD.match(text)
        return found + ([(record[2], kind_stem(record[1]))] if record and record[2] in names else [])

    def wrong_kind(self, text: str) -> str | None:
        """"Gulmesh team" when the corpus only ever calls Gulmesh a tool: the first name of `text`
        given a kind the corpus gives other names but never this one, or None."""
        for name, kind in self._named_kinds(text):
            if kind in self.every_kind and self.kinds.get(name) and kind not in self.kinds[name]:
                return f"{name} {kind}"
        return None

    def invented(self, text: str) -> set[str]:
        """Capitalised words of `text` the corpus never uses in any case."""
        return {
            w for w in words(text) if w[0].isupper() and w.lower() not in FUNCTION_WORDS and w.lower() not in self.lower
        }


class WorkedExamples:
    """A template's worked examples, to recognise the model repeating them.

    Args:
        examples: the example statements of the template.
        vocabulary: the corpus vocabulary; example names the corpus lacks give an echo away.
    """

    def __init__(self, examples: Iterable[str], vocabulary: CorpusVocabulary):
        examples = [e for e in examples if e.strip()]
        self.sets = [token_set(e) for e in examples]
        self.names = {n for e in examples for n in vocabulary.invented(e)}

    def echoed_by(self, statement: str) -> bool:
        tokens = token_set(statement)
        return bool(self.names & set(words(statement))) or any(
            jaccard(tokens, e) >= NEAR_DUPLICATE_JACCARD for e in self.sets
        )


class StatementFilter:
    """Decides, statement by statement, what to keep; remembers what was kept to drop repeats.

    Args:
        vocabulary: the corpus vocabulary (names, ordinary words).
        corpus_sentences: every corpus sentence; restating one verbatim is a copy.
        single_source: the source is one sentence (local augmentation): a statement must keep
            every name of it and add none from elsewhere, for a swapped or dropped entity makes
            a restatement false. Global inferences link documents, so other names are their point.
    """

    def __init__(self, vocabulary: CorpusVocabulary, corpus_sentences: Iterable[str], single_source: bool = False):
        self.vocabulary = vocabulary
        self.single_source = single_source
        corpus_sentences = list(corpus_sentences)
        self.corpus_exact = {normalise(s) for s in corpus_sentences}
        self.corpus_stems = [{stem(w) for w in content_words(s)} for s in corpus_sentences]
        self.corpus_sets = {token_set(s) for s in corpus_sentences}
        self.kept_exact: set[str] = set()
        self.kept_sets: list[frozenset[str]] = []

    def remember(self, statement: str) -> None:
        """Count an already stored statement as kept (so a resumed run does not repeat it)."""
        self.kept_exact.add(normalise(statement))
        self.kept_sets.append(token_set(statement))

    def asks_too_little(self, question: str) -> bool:
        """Whether a question names nothing and more than one corpus sentence says all its words
        ("Who is the principal investigator?", "What is the status of the project?"): one sentence
        cannot tell its answer. "Which tool is used for data analysis?" picks out its sentence."""
        if self.vocabulary.names(question):
            return False
        asked = {stem(w) for w in content_words(question)}
        return not asked or sum(asked <= said for said in self.corpus_stems) > 1

    def reason_to_drop(
        self, statement: str, source: str, examples: WorkedExamples | None = None, covers_source: bool = True
    ) -> str | None:
        """Why `statement` (written about `source`) should be dropped, or None to keep it.

        covers_source: the statement restates all of the source, so it must keep every name; a
        question-answer pair asks about one part and need not.
        """
        n_words = len(words(statement))
        if n_words == 0:
            return "empty"
        if n_words < MIN_WORDS:
            return "too_short"
        if n_words > MAX_WORDS:
            return "too_long"
        if not statement.rstrip("\"')”’").endswith((".", "!", "?")):
            return "incomplete"
        norm, tokens = normalise(statement), token_set(statement)
        # The same words in another order is a copy too: for a relation it is usually the source
        # with its two entities swapped, which states something false. So is the source with a
        # clause added ("X is used for Y, and ...").
        copied = bool(normalise(source)) and f" {normalise(source)} " in f" {norm} "
        if copied or tokens == token_set(source) or norm in self.corpus_exact or tokens in self.corpus_sets:
            return "copy"
        if examples is not None and examples.echoed_by(statement):
            return "example_echo"
        if self.vocabulary.invented(statement):
            return "invented_names"
        said, names, source_names = set(words(statement)), self.vocabulary.names(statement), self.vocabulary.names(source)
        if self.single_source and names - set(words(source)):
            return "foreign_names"
        if source_names and not source_names & said:
            return "lost_names"
        if self.single_source and covers_source and source_names - said:
            return "missing_names"
        if len(names) == 1 and sum(w in names for w in words(statement)) > 1 and not any(
                sum(w in names for w in words(sentence)) > 1 for sentence in split_sentences(source)):
            return "self_relation"  # "the Osk tool is faster than the Osk tool"
        reason = self.sense_reason(statement, source)
        if reason:
            return reason
        # A link between names the corpus never brings within two steps of each other is made up.
        if any(not self.vocabulary.linked(a, b) for a in names for b in names if a < b):
            return "unlinked_names"
        if norm in self.kept_exact:
            return "duplicate"
        if any(tokens == k or jaccard(tokens, k) >= NEAR_DUPLICATE_JACCARD for k in self.kept_sets):
            return "near_duplicate"
        return None

    def sense_reason(self, statement: str, source: str) -> str | None:
        """Why a statement that names the right names says something its source does not, or None:
        the checks every written text gets, list and chain writings too."""
        names = self.vocabulary.names(statement) | self.vocabulary.names(source)
        if self.vocabulary.wrong_kind(statement):
            return "wrong_kind"
        if self.vocabulary.lowercased_name(statement):
            return "lowercased_name"
        if _MEMBERSHIP.search(statement) and not any(_MEMBERSHIP_OR_KIND.search(s) for s in split_sentences(source)):
            return "unsupported_membership"  # "a member of the Bestomir office" from "works in the Bestomir office"
        if negated(statement) != negated(_closest_sentence(statement, source)):
            return "negation_changed"  # against the source sentence it says most of: a join may use an affirmative one
        if repeated_phrase(statement, source):
            return "repetition"
        if _THAN.search(statement) and not _THAN.search(source):
            return "invented_comparison"  # small models carry "X is older than Y" over from elsewhere
        if _superlatives(statement) - _superlatives(source):
            return "invented_comparison"
        said, phrase = set(words(statement)), f" {normalise(statement)} "
        if not _THAN.search(statement) and any({a, b} <= said and f" {how} " not in phrase for a, b, how in _compared(source, names)):
            return "lost_comparison"  # "Who started the Vessapine project? Drobbelin." from "started earlier than"
        if not comparison_consistent(statement, source, names):
            return "wrong_comparison"
        if not voice_consistent(statement, source, names, self.vocabulary.every_kind):
            return "wrong_direction"
        if not category_consistent(statement, source, names):
            return "wrong_direction"
        if not identity_supported(statement, source, names, self.vocabulary.every_kind):
            return "unsupported_identity"
        # One sentence restated: its relation stays. (A join or a list may word a relation anew.)
        if self.single_source and relation_changed(statement, source, names, self.vocabulary.every_kind):
            return "relation_changed"
        if self.single_source and lost_possessed(statement, source, self.vocabulary.names(source)):
            return "lost_possessed"
        if self.single_source and invented_identity(statement, source):
            return "invented_identity"
        if self.single_source and invented_speaker(statement, source, self.vocabulary.entity_names(source)):
            return "invented_person"
        hedges = _hedges(source) - _hedges(statement) if self.single_source else set()
        if hedges or "only" in _hedges(statement) - _hedges(source):
            return "qualifier_changed"  # "usually granted" → "granted"; "contains real names" → "contains only names"
        return None

    def keep(
        self, statements: Iterable[str], source: str, examples: WorkedExamples | None = None, covers_source: bool = True
    ) -> tuple[list[str], Counter[str]]:
        """The statements worth keeping, in order, and the count of the others by reason."""
        kept, dropped = [], Counter()
        for statement in statements:
            reason = self.reason_to_drop(statement, source, examples, covers_source)
            if reason is None:
                self.remember(statement)
                kept.append(statement)
            else:
                dropped[reason] += 1
        return kept, dropped
