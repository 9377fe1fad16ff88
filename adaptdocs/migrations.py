"""Ordered, append-only schema migrations of the workspace database.

Never edit an applied migration: add a new one that fixes forward.
"""

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("adaptdocs")


@migrations()
def m001_initial(db: Database) -> None:
    # Roots given to `ingest`, so `compare` and `--prune` know what the workspace covers.
    db["sources"].create({"path": str, "added_at": str}, pk="path")
    # A document's id is the sha256 of its content: an unchanged file keeps its id and
    # everything derived from it; a changed file gets a new id, so derived rows go stale.
    db["documents"].create(
        {
            "id": str,
            "path": str,
            "relpath": str,
            "root": str,
            "format": str,
            "bytes": int,
            "mtime": float,
            "n_elements": int,
            "n_sentences": int,
            "ingested_at": str,
        },
        pk="id",
    )
    db["documents"].create_index(["path"], unique=True)
    db["elements"].create(
        {
            "id": str,
            "document_id": str,
            "ord": int,
            "type": str,
            "text": str,
            "page": int,
            "heading_path": str,
            "html": str,
        },
        pk="id",
        foreign_keys=[("document_id", "documents", "id")],
    )
    db["elements"].create_index(["document_id", "ord"])
    db["sentences"].create(
        {
            "id": str,
            "document_id": str,
            "element_id": str,
            "ord": int,
            "text": str,
            "context": str,
        },
        pk="id",
        foreign_keys=[("document_id", "documents", "id"), ("element_id", "elements", "id")],
    )
    db["sentences"].create_index(["document_id", "ord"])
    # Files that could not be ingested, with the reason and what to do; cleared on success.
    db["failures"].create({"path": str, "error": str, "hint": str, "at": str}, pk="path")
    # One row per finished unit of augmentation (a sentence × template, or a document for
    # global): the resume marker. Its key hashes everything the output depends on.
    db["augment_items"].create(
        {
            "key": str,
            "strategy": str,
            "template": str,
            "document_ids": str,
            "sentence_ids": str,
            "corpus_hash": str,
            "model": str,
            "n_kept": int,
            "dropped": str,
            "prompt_tokens": int,
            "cached_tokens": int,
            "generated_tokens": int,
            "seconds": float,
            "done_at": str,
        },
        pk="key",
    )
    db["examples"].create(
        {
            "id": str,
            "item_key": str,
            "strategy": str,
            "template": str,
            "text": str,
            "source_sentence_ids": str,
            "source_document_ids": str,
            "model": str,
            "settings": str,
            "seed": int,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("item_key", "augment_items", "key")],
    )
    db["examples"].create_index(["strategy"])
    db["runs"].create(
        {
            "id": int,
            "stage": str,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "config": str,
            "summary": str,
        },
        pk="id",
    )


@migrations()
def m002_item_inputs(db: Database) -> None:
    # Each augmentation item's fingerprint (lineage.item_inputs): what it was made from, so status
    # can say which input of a stale item changed. Rows from before it are judged by their sources.
    db["augment_items"].add_column("inputs", str)


@migrations()
def m003_sentence_original(db: Database) -> None:
    # A sentence whose text ingest made standalone (a pronoun replaced by its antecedent, a field
    # line given its record's first line) keeps the sentence as the document wrote it here; null
    # when the text is the document's own.
    db["sentences"].add_column("original", str)
