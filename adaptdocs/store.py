"""Reads and writes of the workspace database, behind domain methods.

All SQL of adaptdocs lives here. Every write that must be atomic (one document with its
elements and sentences; one augmentation item with its examples) is one transaction, so a
kill at any moment leaves the store consistent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlite_utils import Database


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Sentence:
    id: str
    document_id: str
    element_id: str
    ord: int
    text: str
    context: str | None = None


@dataclass
class Document:
    id: str
    path: str
    relpath: str
    format: str
    text: str  # the document's sentences joined, in order


class Store:
    """Domain methods over the workspace's SQLite database."""

    def __init__(self, db: Database):
        self.db = db

    # -- sources and documents ------------------------------------------------------

    def add_source(self, path: str) -> None:
        self.db["sources"].insert({"path": path, "added_at": now()}, pk="path", ignore=True)

    def sources(self) -> list[str]:
        return [r["path"] for r in self.db["sources"].rows_where(order_by="path")]

    def document_by_path(self, path: str) -> dict | None:
        rows = list(self.db["documents"].rows_where("path = ?", [path]))
        return rows[0] if rows else None

    def document_paths(self) -> dict[str, str]:
        """Path → document id for every stored document."""
        return {r["path"]: r["id"] for r in self.db.query("select id, path from documents")}

    def replace_document(self, document: dict, elements: list[dict], sentences: list[dict]) -> None:
        """Store one parsed document, replacing whatever was stored for its path, atomically."""
        with self.db.atomic():
            old = self.document_by_path(document["path"])
            if old is not None:
                self._delete_document_rows(old["id"])
            # Identical content at two paths would share an id: keep the newest path.
            self._delete_document_rows(document["id"])
            self.db["documents"].insert(document, pk="id")
            self.db["elements"].insert_all(elements, pk="id")
            self.db["sentences"].insert_all(sentences, pk="id")
            self.db["failures"].delete_where("path = ?", [document["path"]])

    def delete_document(self, path: str) -> None:
        with self.db.atomic():
            old = self.document_by_path(path)
            if old is not None:
                self._delete_document_rows(old["id"])

    def _delete_document_rows(self, document_id: str) -> None:
        self.db.execute("delete from sentences where document_id = ?", [document_id])
        self.db.execute("delete from elements where document_id = ?", [document_id])
        self.db.execute("delete from documents where id = ?", [document_id])

    def record_failure(self, path: str, error: str, hint: str) -> None:
        with self.db.atomic():
            self.db["failures"].upsert({"path": path, "error": error, "hint": hint, "at": now()}, pk="path")

    def delete_failure(self, path: str) -> None:
        with self.db.atomic():
            self.db["failures"].delete_where("path = ?", [path])

    def document_by_id(self, document_id: str) -> dict | None:
        rows = list(self.db["documents"].rows_where("id = ?", [document_id]))
        return rows[0] if rows else None

    def failures(self) -> list[dict]:
        return list(self.db["failures"].rows_where(order_by="path"))

    def documents(self) -> list[Document]:
        """Every document with its text (sentences joined in order), ordered by path."""
        docs = []
        for row in self.db["documents"].rows_where(order_by="relpath, path"):
            text = " ".join(s.text for s in self.sentences(document_id=row["id"]))
            docs.append(Document(row["id"], row["path"], row["relpath"], row["format"], text))
        return docs

    def sentences(self, document_id: str | None = None) -> list[Sentence]:
        """Sentences in corpus order (document path, then order in document)."""
        sql = (
            "select s.* from sentences s join documents d on d.id = s.document_id "
            + ("where s.document_id = ? " if document_id else "")
            + "order by d.relpath, d.path, s.ord"
        )
        rows = self.db.query(sql, [document_id] if document_id else [])
        return [Sentence(r["id"], r["document_id"], r["element_id"], r["ord"], r["text"], r["context"]) for r in rows]

    def elements(self, document_id: str | None = None) -> Iterator[dict]:
        where, args = ("document_id = ?", [document_id]) if document_id else (None, [])
        return self.db["elements"].rows_where(where, args, order_by="document_id, ord")

    def counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in ("documents", "elements", "sentences", "failures", "examples")}

    # -- augmentation -----------------------------------------------------------------

    def done_item_keys(self) -> set[str]:
        return {r["key"] for r in self.db.query("select key from augment_items")}

    def save_item(self, item: dict, examples: list[dict]) -> None:
        """Store one finished augmentation item with its kept examples, atomically."""
        with self.db.atomic():
            self.db["augment_items"].insert(item, pk="key", replace=True)
            self.db["examples"].insert_all(examples, pk="id", ignore=True)

    def augment_items(self, strategy: str | None = None) -> list[dict]:
        where, args = ("strategy = ?", [strategy]) if strategy else (None, [])
        return list(self.db["augment_items"].rows_where(where, args))

    def examples(self, strategy: str | None = None) -> list[dict]:
        where, args = ("strategy = ?", [strategy]) if strategy else (None, [])
        return list(self.db["examples"].rows_where(where, args, order_by="item_key, id"))

    def delete_items(self, keys: Iterable[str]) -> int:
        keys = list(keys)
        with self.db.atomic():
            for key in keys:
                self.db.execute("delete from examples where item_key = ?", [key])
                self.db.execute("delete from augment_items where key = ?", [key])
        return len(keys)

    # -- runs -------------------------------------------------------------------------

    def start_run(self, stage: str, config: dict) -> int:
        with self.db.atomic():
            table = self.db["runs"].insert(
                {"stage": stage, "started_at": now(), "status": "running", "config": json.dumps(config, sort_keys=True)}
            )
        return table.last_pk

    def finish_run(self, run_id: int, status: str, summary: dict) -> None:
        with self.db.atomic():
            self.db["runs"].update(
                run_id, {"finished_at": now(), "status": status, "summary": json.dumps(summary, sort_keys=True)}
            )

    def runs(self, stage: str | None = None) -> list[dict]:
        where, args = ("stage = ?", [stage]) if stage else (None, [])
        return list(self.db["runs"].rows_where(where, args, order_by="id"))

    def corpus_hash(self) -> str:
        """The corpus's identity, which global augmentations depend on: sha256 over the sorted document ids."""
        ids = sorted(r["id"] for r in self.db.query("select id from documents"))
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()
