"""Records restated by rule: the local augmentation of table rows and forms.

Ingest reads a table row or a form as one sentence of "Key: value" fields ("Project: Korrimat.
Principal investigator: Idrena Vaskell. Extension: 4410."). The model mixes such fields up,
while the record says exactly which value fills which role, so each field after the first is
written by rule (templates/augment_record.toml): as a statement and a question about the first
value ("What is the principal investigator of the Korrimat project? Idrena Vaskell."), and, when
its value is a name that nothing else of the key's kind has in the corpus, as a question from the value's side
("Which project has Idrena Vaskell as its principal investigator? Korrimat."), the direction the
reversal curse loses.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable

from .augment_filters import CorpusVocabulary, kind_stem
from .templates import PromptTemplate

RECORD_TEMPLATE = "augment_record"


def is_name(value: str) -> bool:
    """A value that names something ("Korrimat", "Idrena Vaskell", "Room 12"), not a phrase ("on track")."""
    return value[:1].isupper() and len(value.split()) <= 3


def value_owners(records: Iterable[list[tuple[str, str]]]) -> Counter:
    """How many records give each (label, value): a value's side asks for one record only when one."""
    return Counter((label.lower(), value) for fields in records for label, value in fields[1:])


def linked_to_another(value: str, key: str, key_label: str, vocabulary: CorpusVocabulary) -> bool:
    """Whether a sentence of the corpus links `value` to a name of the key's kind other than `key`."""
    kind = kind_stem(key_label)
    others = {n for w in value.split() for n in vocabulary.neighbours.get(w, ())} - set(key.split())
    return any(kind in vocabulary.kinds.get(n, ()) for n in others)


def record_writings(fields: list[tuple[str, str]], template: PromptTemplate, owners: Counter,
                    vocabulary: CorpusVocabulary) -> list[tuple[str, str, str]]:
    """(kind, question, answer-or-statement) for each field after the first; question "" for a
    statement. A record whose first value is no name ("Chair: the institute director.") is about
    no one it could be asked by, and gets nothing.

    Args:
        fields: the record's fields.
        template: the record template, whose `forms` are filled.
        owners: value_owners of every record of the corpus.
        vocabulary: the corpus vocabulary: a value that prose links to another name of the key's
            kind ("Hessiver belongs to the Vantrel series" beside "Instrument: Telsamo. Series:
            Vantrel.") is asked from its side by no record alone.
    """
    (key_label, key), rest = fields[0], fields[1:]
    if not is_name(key):
        return []
    forms = {name: string.Template(text) for name, text in template.forms.items()}
    written = []
    # "Name: Idrena Vaskell." names a person, not an Idrena Vaskell name.
    subject = key if key_label.lower() == "name" else f"the {key} {key_label.lower()}"
    for label, value in rest:
        values = {"key_label": key_label.lower(), "key": key, "subject": subject, "label": label.lower(), "value": value}
        written.append(("statement", "", forms["statement"].substitute(values)))
        written.append(("question", forms["question"].substitute(values), f"{value[:1].upper()}{value[1:]}."))
        if is_name(value) and owners[(label.lower(), value)] == 1 and not linked_to_another(value, key, key_label, vocabulary):
            written.append(("reverse_question", forms["reverse_question"].substitute(values), f"{key}."))
    return written
