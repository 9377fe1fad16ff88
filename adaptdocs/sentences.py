"""Splitting text into sentences: the one rule, used for documents (ingest) and for what the model writes (augment)."""

from __future__ import annotations

import re

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
