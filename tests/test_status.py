"""Status: what the workspace holds, and what is stale after the corpus changes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from adaptdocs.cli import app
from adaptdocs.config import IngestConfig
from adaptdocs.ingest import ingest_paths
from adaptdocs.status import workspace_status
from adaptdocs.store import now
from adaptdocs.workspace import Workspace

runner = CliRunner()


def save_item(ws: Workspace, key: str, strategy: str, document_ids: list[str]) -> None:
    item = {
        "key": key, "strategy": strategy, "template": "t", "document_ids": json.dumps(document_ids),
        "sentence_ids": "[]", "corpus_hash": ws.store.corpus_hash(), "model": "m", "n_kept": 1, "dropped": "{}",
        "prompt_tokens": 1, "cached_tokens": 0, "generated_tokens": 1, "seconds": 0.1, "done_at": now(),
    }
    example = {
        "id": f"{key}-0", "item_key": key, "strategy": strategy, "template": "t", "text": "An inference.",
        "source_sentence_ids": "[]", "source_document_ids": json.dumps(document_ids), "model": "m",
        "settings": "{}", "seed": 0, "created_at": now(),
    }
    ws.store.save_item(item, [example])


def test_status_of_an_empty_workspace(workspace_env):
    data = workspace_status(Workspace(workspace_env))
    assert data["corpus"] == {"documents": 0, "elements": 0, "sentences": 0, "failures": 0}
    assert (data["failures"], data["augmented"], data["adapters"], data["reports"]) == ([], {}, [], [])


def test_status_shows_failures_stale_augmentations_adapters_and_reports(tmp_path, workspace_env):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("The Snelby tool is owned by the Zarnoth team. Snelby is used for billing.")
    (corpus / "b.txt").write_text("The Plosk tool is owned by the Mubadra team.")
    (corpus / "broken.pdf").write_bytes(b"not a pdf")
    ws = Workspace(workspace_env)
    ingest_paths(ws, [corpus], IngestConfig(workers=1))
    ids = ws.store.document_paths()
    a_id, b_id = ids[str((corpus / "a.txt").resolve())], ids[str((corpus / "b.txt").resolve())]
    save_item(ws, "local-a", "local", [a_id])
    save_item(ws, "local-b", "local", [b_id])
    save_item(ws, "global-a", "global", [a_id])

    from adaptdocs.config import TrainConfig
    from adaptdocs.lineage import adapter_currency

    adapter = ws.adapter_dir("plain")
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adaptdocs.json").write_text(json.dumps(
        {"inputs": adapter_currency(ws, TrainConfig()).inputs, "steps": 12, "final_loss": 1.5}
    ))
    (ws.reports_dir / "20240101-000000").mkdir(parents=True)

    data = workspace_status(ws)
    assert data["corpus"]["documents"] == 2 and data["corpus"]["failures"] == 1
    assert data["failures"][0]["path"].endswith("broken.pdf") and data["failures"][0]["hint"]
    assert data["augmented"] == {"global": {"examples": 1, "items": 1, "stale_items": 0, "stale_because": {}},
                                 "local": {"examples": 2, "items": 2, "stale_items": 0, "stale_because": {}}}
    assert [(a["data"], a["steps"], a["final_loss"], a["stale"]) for a in data["adapters"]] == [("plain", 12, 1.5, False)]
    assert [r["name"] for r in data["reports"]] == ["20240101-000000"]

    # b changes: its local item goes stale; global items go stale because the corpus changed.
    (corpus / "b.txt").write_text("The Plosk tool is owned by the Trimbelo team.")
    ingest_paths(ws, [corpus], IngestConfig(workers=1))
    data = workspace_status(ws)
    assert data["augmented"]["local"]["stale_items"] == 1
    assert data["augmented"]["global"]["stale_items"] == 1
    assert data["augmented"]["global"]["stale_because"] == {"the corpus changed (global items see every document)": 1}
    assert data["adapters"][0]["stale"] is True
    assert data["adapters"][0]["changed"] == ["training set (documents or augmented examples changed)"]

    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["augmented"]["local"]["stale_items"] == 1
    human = runner.invoke(app, ["status"])
    assert human.exit_code == 0
    text = " ".join(human.stdout.split())
    assert "broken.pdf" in text and "stale" in text and "20240101-000000" in text
