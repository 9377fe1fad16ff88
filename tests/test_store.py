"""The store's atomic writes: a failure halfway through a document leaves nothing of it."""

import sqlite3

import pytest

from adaptdocs.workspace import Workspace


def _document(doc_id: str, path: str) -> dict:
    return {"id": doc_id, "path": path, "relpath": path, "root": "/", "format": "txt", "bytes": 1,
            "mtime": 0.0, "n_elements": 1, "n_sentences": 0, "ingested_at": "t"}


def test_a_document_whose_elements_fail_to_store_leaves_no_row(tmp_path):
    store = Workspace(tmp_path / "ws").store
    store.replace_document(_document("keep", "/a.txt"), [{"id": "e0", "document_id": "keep", "ord": 0}], [])
    duplicate_elements = [{"id": "e1", "document_id": "d1", "ord": 0}, {"id": "e1", "document_id": "d1", "ord": 1}]
    with pytest.raises(sqlite3.IntegrityError):
        store.replace_document(_document("d1", "/b.txt"), duplicate_elements, [])
    assert store.counts()["documents"] == 1
    assert store.counts()["elements"] == 1
    assert store.document_by_path("/b.txt") is None


def test_an_augmentation_item_whose_examples_fail_to_store_is_not_marked_done(tmp_path):
    store = Workspace(tmp_path / "ws").store
    item = {"key": "k1", "strategy": "local"}
    broken_examples = [{"id": "x1", "item_key": "k1", "strategy": "local", "no_such_column": 1}]
    with pytest.raises(sqlite3.OperationalError):
        store.save_item(item, broken_examples)
    assert "k1" not in store.done_item_keys()
