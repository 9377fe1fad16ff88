"""Splitting text into sentences: the one rule, used for documents (ingest) and for what the model writes
(augment); and the rules that make a document's sentences stand alone (fragments, field lines, pronouns)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

_ABBREVIATIONS = {"e.g.", "i.e.", "mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "no.", "fig.", "approx."}
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of one element's text: split after . ! ? before a capital or digit."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        last_word = text[start : match.start()].rsplit(None, 1)[-1].lower() if text[start : match.start()].strip() else ""
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last_word):
            continue
        sentences.append(text[start : match.start()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


# -- sentences that stand alone ------------------------------------------------------------
#
# A training sentence must say what it is about. Ingest drops fragments that state nothing
# (a bullet glyph, a bare "1."), keeps form fields ("Owner: the safety officer") as sentences
# of their own, and replaces a sentence-initial pronoun by the subject of the sentence before
# it when that subject is a name ("Naquesh had to wait. It is now paid ..." → "Naquesh is now
# paid ..."). Each rule is deterministic and conservative: what it cannot settle, it leaves.

# "Key: value" on one line, the key one to three words starting with a capital.
_FIELD = re.compile(r"(?P<key>[A-Z][\w'’&/.-]*(?: [\w'’&/().-]+){0,2}): +(?P<value>\S.*)")
_FIELD_MAX_CHARS = 120
_ENUMERATOR = re.compile(r"\(?(?:\d{1,3}|[A-Za-z]|[ivx]{1,4}|[IVX]{1,4})[.)]")  # on its own: a fragment
# A list number before an item's text: "2.", "b)", "(iv)"; not "A." (an initial: "A. Smith leads ...").
_LIST_NUMBER = re.compile(r"\(?(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)]|\(?[A-Z]\)")
_LEADING_GLYPHS = re.compile(r"^(?:[^\w\s\"'‘“(\[]|\x7f)+\s+")
_HAS_LETTER = re.compile(r"[^\W\d_]")


def is_field_line(text: str) -> bool:
    """A form field: one short line "Key: value" whose value is one statement ("Owner: the lab manager")."""
    text = text.strip()
    if len(text) > _FIELD_MAX_CHARS or text.endswith(":"):
        return False
    match = _FIELD.fullmatch(text)
    return bool(match) and len(split_sentences(match["value"])) == 1


def field_parts(line: str) -> tuple[str, str]:
    """A field line's (key, value), the value without its full stop: "Owner: Ispaneth." → ("Owner", "Ispaneth")."""
    match = _FIELD.fullmatch(line.strip())
    return match["key"], match["value"].rstrip(".").strip()


def record_fields(text: str) -> list[tuple[str, str]] | None:
    """The (key, value) fields of a record, one field line a sentence ("Series: Vantrel. Permit:
    Dorvesk."), in order; None when the text is not one."""
    lines = split_sentences(text)
    if not lines or not all(is_field_line(line) for line in lines):
        return None
    return [field_parts(line) for line in lines]


def with_full_stop(text: str) -> str:
    """The text ending as a sentence does: a full stop unless it has final punctuation already."""
    text = text.strip()
    return text if re.search(r"[.!?][\"')\]]*$", text) else text.rstrip(":;,") + "."


def clean_sentence(text: str) -> str | None:
    """The sentence without leading bullet glyphs, or None for a fragment that states nothing:
    glyphs, numbers or punctuation only, or a bare list number ("1.", "b)", "iv.")."""
    text = " ".join(_LEADING_GLYPHS.sub("", text.replace("\x7f", " ")).split())
    if not _HAS_LETTER.search(text) or _ENUMERATOR.fullmatch(text):
        return None
    return text


def strip_enumerator(text: str) -> str:
    """A list item's text without its number: "2. Check the logbook." → "Check the logbook."."""
    match = _LIST_NUMBER.match(text)
    if match and text[match.end() : match.end() + 1] == " ":
        return text[match.end() :].lstrip()
    return text


# Sentence-initial words that point back instead of naming: subject pronouns, possessives, and
# "This/These/That/Those/The <noun>" (resolved only when the noun is the antecedent's own).
_SUBJECT = {"It": "singular", "They": "plural", "He": "person", "She": "person"}
_POSSESSIVE = {"Its": "singular", "Their": "plural", "His": "person", "Her": "person"}
_DEMONSTRATIVE = {"This", "That", "These", "Those", "The"}
# "The work is funded by ..." after "Filtarro studies ...": the subject's own activity.
_ACTIVITY = {"work", "research"}
# "It is important to ...", "It was decided that ...", "It was a wet summer": no antecedent.
_NOT_ARGUMENT = {"a", "an", "the", "this", "that", "these", "those", "its", "their", "his", "her", "our",
                 "your", "my", "every", "each", "all", "some", "any", "other", "another", "one", "two", "three"}
_EXPLETIVE = re.compile(
    r"It(?:'s| is| was| has been| had been| will be| would be| seems| seemed| appears| appeared| takes| took"
    r"| may be| might be| can be| could be| must be)(?: not)?(?: [\w-]+){0,3}?"
    r" (?:to (?!(?:" + "|".join(_NOT_ARGUMENT) + r")\b)[a-z]|that\b|whether\b|if\b|how\b|why\b|when\b)"
    r"|It(?:'s| is| was) (?:a |an )?(?:[\w-]+ )?(?:day|week|month|year|summer|winter|spring|autumn|time|night"
    r"|morning|evening|weekend)\b"
    r"|It (?:rains|rained|snows|snowed)\b"
)
_WORD = re.compile(r"[\w'’-]+")


@dataclass
class Antecedent:
    """A sentence's named subject: "The Drobbelin project", "Naquesh", "Throdd instruments"."""

    text: str
    kind: str  # singular | plural | person
    head: str | None  # its common noun ("project"), if any


@dataclass
class Resolution:
    """One element's sentences, each standalone where the rules could make it so."""

    texts: list[str] = field(default_factory=list)
    originals: list[str | None] = field(default_factory=list)  # the sentence as written, when changed
    resolved: int = 0
    left: int = 0  # sentences starting with a pronoun that stay as they are


def capitalised_names(sentences: list[str]) -> set[str]:
    """Words written with a capital inside sentences (not first): the document's names."""
    names = set()
    for sentence in sentences:
        for word in _WORD.findall(sentence)[1:]:
            if word[0].isupper():
                names.add(word)
    return names


def points_back(sentence: str) -> bool:
    """Whether a sentence opens by pointing back (a pronoun, or "This/These <noun>"), not by a name."""
    words = sentence.split(None, 2)
    if not words:
        return False
    first = words[0].rstrip(",")
    if first in _SUBJECT or first in _POSSESSIVE:
        return not (first == "It" and _EXPLETIVE.match(sentence))
    if first in _DEMONSTRATIVE and len(words) > 1:
        noun = words[1].rstrip(".,;:")
        return noun.isalpha() and noun.islower() and (first != "The" or noun in _ACTIVITY)
    return False


def subject_of(sentence: str, names: set[str], tag: Callable[[str], list[tuple[str, str]]]) -> Antecedent | None:
    """The sentence's subject when it opens the sentence and is named, else None.

    Named: "The" then capitalised words (optionally one common noun: "The Kessa pipeline"), or a
    name: a word the document also writes with a capital mid-sentence, or that the tagger calls a
    proper noun ("Naquesh had to wait").
    The subject must be followed by its verb (or a comma before a relative clause), not by
    "and", "of" or a possessive, so "The Korrimat and Naquesh projects" is never one antecedent.

    Args:
        sentence: the previous sentence (as resolved).
        names: capitalised_names() of the document.
        tag: Penn Treebank tagger (unstructured's spaCy `pos_tag`).
    """
    tokens = tag(sentence)
    i = 0
    determiner = bool(tokens) and tokens[0][0] == "The"
    if determiner:
        i = 1
    start = i
    while i < len(tokens) and tokens[i][0][:1].isupper() and tokens[i][0].isalpha() and i - start < 4:
        i += 1
    capitals = [t for t, _ in tokens[start:i]]
    if not capitals:
        return None
    head = None
    if (i + 1 < len(tokens) and tokens[i][1] in ("NN", "NNS") and tokens[i][0].isalpha() and tokens[i][0].islower()
            and (tokens[i + 1][1].startswith("VB") or tokens[i + 1][1] in ("MD", ","))):
        head = tokens[i][0]
        i += 1
    # A capitalised noun before a common noun names a thing even where the tagger, seeing an unknown
    # word open the sentence, calls it a common noun ("Throdd instruments contain a strong laser.").
    named = determiner or capitals[0] in names or tokens[start][1] in ("NNP", "NNPS")
    if not (named or (head and len(capitals) == 1 and tokens[start][1] == "NN")):
        return None
    if i >= len(tokens):
        return None
    after, after_tag = tokens[i]
    # The verb (or an adverb before it, or a comma before a relative clause); "studies" after a bare
    # name is often tagged as a plural noun. A noun here means the subject goes on ("... project's").
    verb = after_tag.startswith(("VB", "RB")) or after_tag == "MD" or (after_tag == "NNS" and head is None)
    if after != "," and not (verb and after[:1].islower() and after.isalpha()):
        return None
    words = (["The"] if determiner else []) + capitals + ([head] if head else [])
    text = _span(sentence, words)
    if text is None:
        return None
    if head is not None:
        kind = "plural" if tokens[i - 1][1] == "NNS" else "singular"
    elif not determiner and len(capitals) > 1:
        kind = "person"  # "Levrin Toskett", but also "Harnesk Trust": only He/She may refer to it
    else:
        kind = "plural" if tokens[i - 1][1] == "NNPS" else "singular"
    return Antecedent(text, kind, head)


def _span(sentence: str, words: list[str]) -> str | None:
    """The stretch of `sentence` from its start through `words` in order (spacing kept)."""
    end = 0
    for word in words:
        found = sentence.find(word, end)
        if found < 0:
            return None
        end = found + len(word)
    return sentence[:end]


def resolve(sentence: str, antecedent: Antecedent) -> str | None:
    """The sentence with its opening reference replaced by the antecedent, or None if they do not agree."""
    first, rest = (sentence.split(None, 1) + [""])[:2]
    if first in _SUBJECT:
        if _SUBJECT[first] != antecedent.kind:
            return None
        return f"{antecedent.text} {rest}"
    if first in _POSSESSIVE:
        if _POSSESSIVE[first] != antecedent.kind:
            return None
        return f"{possessive(antecedent)} {rest}"
    noun, _, tail = rest.partition(" ")
    bare = noun.rstrip(".,;:")
    if first == "The" and bare in _ACTIVITY and antecedent.kind != "person":
        return f"{possessive(antecedent)} {rest}"
    if antecedent.head is not None and bare == antecedent.head:
        return f"{antecedent.text}{noun[len(bare):]} {tail}".rstrip()
    return None


def possessive(antecedent: Antecedent) -> str:
    """ "The Crellish instrument's", "Throdd instruments'"."""
    if antecedent.kind == "plural" and antecedent.text.endswith("s"):
        return antecedent.text + "'"
    return antecedent.text + "'s"


def resolve_references(sentences: list[str], names: set[str],
                       tag: Callable[[str], list[tuple[str, str]]]) -> Resolution:
    """Replace sentence-initial references by the named subject of the sentence before, within one element.

    Resolved only when the previous sentence (as resolved) opens with a named subject that agrees
    (It/Its: a singular thing; They/Their: a plural; He/She: a person's name; "This project": an
    antecedent whose noun is "project"); otherwise the sentence is left as written and counted.

    Args:
        sentences: one element's sentences, in order.
        names: capitalised_names() of the document.
        tag: Penn Treebank tagger, called only on sentences that a reference follows.
    """
    out = Resolution()
    topic: Antecedent | None = None  # the subject the previous sentence is about, once known
    previous: str | None = None
    for sentence in sentences:
        if points_back(sentence):
            if topic is None and previous is not None:
                topic = subject_of(previous, names, tag)
            resolved = resolve(sentence, topic) if topic else None
            if resolved:
                out.texts.append(resolved)
                out.originals.append(sentence)
                out.resolved += 1
                previous = resolved  # still about the same subject
                continue
            # Counted: pronouns and "The work". "This handbook ..." says well enough what it is about.
            first = sentence.split(None, 1)[0]
            out.left += first in _SUBJECT or first in _POSSESSIVE or first == "The"
        out.texts.append(sentence)
        out.originals.append(None)
        previous, topic = sentence, None
    return out
