"""Question sets: JSONL multiple-choice questions, validated line by line (design.md "Question set").

A malformed line is reported with its line number and skipped, so one bad line never costs the
rest of an evaluation; `strict=True` turns the first problem into an error instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AdaptdocsError

STYLES = ("question", "cloze")


@dataclass
class Question:
    """One multiple-choice question.

    Args:
        id: unique within its file ("line<N>" when the line has none).
        question: the question, or for style "cloze" the sentence prefix a choice completes.
        choices: the candidate answers, all distinct.
        answer: index of the correct choice.
        kind: what the question tests (recall, reversal, multihop, ...); reports group by it.
        sources: file names, relative to the ingested folder, that hold the facts needed.
        style: "question" or "cloze".
        made_by: how the question was made, where it was generated: "cloze" (a document
            sentence's prefix), "template" (worded by a fixed rule), "model:<name>" (written by
            that model and verified); None for questions written by people.
    """

    id: str
    question: str
    choices: list[str]
    answer: int
    kind: str
    sources: list[str] = field(default_factory=list)
    style: str = "question"
    made_by: str | None = None


@dataclass
class QuestionSet:
    """The valid questions of one file, the problems found in the others, and the file's hash.

    Args:
        path: the file read.
        questions: the valid questions, in file order.
        problems: one line per skipped line, "line N: what, skipped".
        sha256: hex digest of the file's bytes, so a report names exactly the set it used.
    """

    path: Path
    questions: list[Question]
    problems: list[str]
    sha256: str

    def count_by_kind(self) -> dict[str, int]:
        return dict(Counter(q.kind for q in self.questions))


class _LineProblem(Exception):
    """What is wrong with one line; becomes a problem entry or, in strict mode, an error."""


def load_questions(path: str | os.PathLike, strict: bool = False) -> QuestionSet:
    """Read and validate a JSONL question file.

    Args:
        path: the JSONL file, one question object per line (blank lines are ignored).
        strict: raise AdaptdocsError at the first malformed line instead of skipping it.

    Returns:
        The QuestionSet; `problems` lists each skipped line.

    Raises:
        AdaptdocsError: the file is missing, unreadable, empty or not JSONL; a line is malformed
            and strict is set; or no valid question is left.
    """
    path = Path(path)
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AdaptdocsError(
            f"question file {path} is not UTF-8 text ({error.reason} at byte {error.start})",
            "save it as UTF-8 JSONL, one question object per line",
        ) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise AdaptdocsError(
            f"question file {path} is empty",
            'add one JSON object per line, e.g. {"question": ..., "choices": [...], "answer": 0, "kind": ...}',
        )

    questions: list[Question] = []
    problems: list[str] = []
    seen_ids: set[str] = set()
    json_lines = 0
    for number, line in lines:
        try:
            record = json.loads(line)
            json_lines += 1
        except json.JSONDecodeError as error:
            record = None
            problem = f"line {number}: not valid JSON ({error.msg} at column {error.colno}), skipped"
        else:
            try:
                question = _parse(record, number)
                if question.id in seen_ids:
                    raise _LineProblem(f"duplicate id {question.id!r}")
                seen_ids.add(question.id)
                questions.append(question)
                continue
            except _LineProblem as reason:
                problem = f"line {number}: {reason}, skipped"
        if strict:
            raise AdaptdocsError(
                f"{path}: {problem.removesuffix(', skipped')}", "fix the line, or run without --strict to skip it"
            )
        problems.append(problem)

    if json_lines == 0:
        raise AdaptdocsError(
            f"question file {path} is not JSONL: no line is a JSON value",
            "write one JSON object per line (a JSON array or CSV file needs converting)",
        )
    if not questions:
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        raise AdaptdocsError(f"question file {path} holds no valid question ({shown})",
                             "see design.md 'Question set' for the schema")
    return QuestionSet(path=path, questions=questions, problems=problems,
                       sha256=hashlib.sha256(data).hexdigest())


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise AdaptdocsError(f"question file {path} does not exist", "check the path passed to --questions")
    if path.is_dir():
        raise AdaptdocsError(f"question file {path} is a directory", "pass the .jsonl file itself")
    try:
        return path.read_bytes()
    except OSError as error:
        raise AdaptdocsError(f"cannot read question file {path}: {error.strerror}",
                             "check its permissions") from None


def _parse(record: object, number: int) -> Question:
    if not isinstance(record, dict):
        raise _LineProblem(f"expected a JSON object, got {type(record).__name__}")

    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _LineProblem("'question' must be a non-empty string")

    choices = record.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise _LineProblem("'choices' must be a list of non-empty strings")
    if len(choices) < 2:
        raise _LineProblem(f"'choices' needs at least 2 entries, got {len(choices)}")
    repeated = sorted({c for c in choices if choices.count(c) > 1})
    if repeated:
        raise _LineProblem(f"'choices' repeats {', '.join(map(repr, repeated))}")

    answer = record.get("answer")
    if isinstance(answer, str):
        if answer not in choices:
            raise _LineProblem(f"'answer' {answer!r} is not one of the choices")
        answer = choices.index(answer)
    elif isinstance(answer, int) and not isinstance(answer, bool):
        if not 0 <= answer < len(choices):
            raise _LineProblem(f"'answer' {answer} is out of range 0..{len(choices) - 1}")
    else:
        raise _LineProblem("'answer' must be a choice index or a choice's text")

    kind = record.get("kind")
    if not isinstance(kind, str) or not kind.strip():
        raise _LineProblem("'kind' must be a non-empty string")

    style = record.get("style", "question")
    if style not in STYLES:
        raise _LineProblem(f"'style' must be one of {', '.join(STYLES)}, not {style!r}")

    sources = record.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise _LineProblem("'sources' must be a list of file names")

    made_by = record.get("made_by")
    if made_by is not None and (not isinstance(made_by, str) or not made_by.strip()):
        raise _LineProblem("'made_by' must be a non-empty string")

    qid = record.get("id", f"line{number}")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not str(qid).strip():
        raise _LineProblem("'id' must be a non-empty string or an integer")

    return Question(id=str(qid), question=question, choices=choices, answer=answer,
                    kind=kind.strip(), sources=sources, style=style, made_by=made_by)
