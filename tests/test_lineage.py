"""One currency rule: changing each kind of input makes exactly its dependent artifacts stale, and
`status`, `train` and `compare` agree on what that means."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from conftest import FakeModel

import adaptdocs.templates as templates_module
from adaptdocs.augment import AugmentSummary, augment
from adaptdocs.compare import prepare_adapters
from adaptdocs.config import AugmentConfig, CompareConfig, IngestConfig, ModelConfig, TrainConfig
from adaptdocs.ingest import ingest_paths
from adaptdocs.lineage import adapter_currency
from adaptdocs.progress import NullReporter
from adaptdocs.status import workspace_status
from adaptdocs.train import train
from adaptdocs.workspace import Workspace

SETTINGS = TrainConfig(max_steps=2, checkpoint_every=100)


def rephrase_everything(prefix: str, prompt: str) -> str:
    """A rephrasing the filters keep: the source sentence's names in another order of words."""
    line = prompt.strip().splitlines()[-2] if prompt.rstrip().endswith(":") else prompt
    if "Rephrased:" in prompt and "Plosk" in line:
        return " The Mubadra team is the owner of the Plosk tool.\n"
    if prefix.startswith("The documents") or "Connections" in prompt:
        return " The Plosk tool and the Mubadra team are linked by ownership.\n"
    return ""


def states(ws, settings=SETTINGS) -> dict:
    data = workspace_status(ws, settings)
    return {
        "items": {s: v["stale_items"] for s, v in data["augmented"].items()},
        "adapters": {a["data"]: a["changed"] for a in data["adapters"]},
    }


def retrained_by_compare(ws, settings) -> list[str]:
    """The adapters compare would train with these settings (training itself is recorded, not run)."""
    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("adaptdocs.train.train", lambda ws, config, reporter: calls.append(config.data))
        patch.setattr("adaptdocs.augment.augment", lambda *a, **k: AugmentSummary(model="recorded", dry_run=False))
        config = CompareConfig(questions="unused", conditions=("ft-plain", "ft-local"), train=settings)
        try:
            prepare_adapters(ws, config, NullReporter())
        except Exception:  # the recorded "training" wrote no adapter; the calls are what matter
            pass
    return calls


@pytest.mark.slow
def test_each_input_makes_exactly_its_dependents_stale(tmp_path, workspace_env, monkeypatch):
    templates = tmp_path / "templates"
    shutil.copytree(templates_module.TEMPLATES_DIR, templates)
    monkeypatch.setattr(templates_module, "TEMPLATES_DIR", templates)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tools.txt").write_text("The Plosk tool is owned by the Mubadra team.\n")
    (docs / "teams.txt").write_text("The Mubadra team sits in the Vostra building.\n")
    ws = Workspace(workspace_env)
    ingest_paths(ws, [docs], IngestConfig(workers=1))
    augment(ws, AugmentConfig(strategy="both", verify=False), model=FakeModel(rephrase_everything))
    assert any(e["template"] == "augment_rephrase" for e in ws.store.examples("local"))
    for data in ("plain", "local"):
        train(ws, replace(SETTINGS, data=data))
    assert states(ws) == {"items": {"global": 0, "local": 0}, "adapters": {"plain": [], "local": []}}
    # train and compare agree: nothing to redo.
    assert train(ws, replace(SETTINGS, data="plain")).skipped
    assert retrained_by_compare(ws, SETTINGS) == []

    # A training hyper-parameter or the split: every adapter, nothing else.
    for changed, words in ((replace(SETTINGS, lr=1e-3), f"lr {SETTINGS.lr:g} → 0.001"), (replace(SETTINGS, split="document"), "split independent → document")):
        s = states(ws, changed)
        assert s["items"] == {"global": 0, "local": 0}
        assert all(words in c for c in s["adapters"].values()), s
        assert retrained_by_compare(ws, changed) == ["plain", "local"]

    # The base model: every adapter names it; augmented items were written by their own model and stay.
    other = replace(SETTINGS, model=ModelConfig(quantize="fp32"))
    s = states(ws, other)
    assert s["items"] == {"global": 0, "local": 0}
    assert all(any(c.startswith("base model") for c in changes) for changes in s["adapters"].values())

    # A template file: its items, and the adapters trained on their examples; not plain.
    path = templates / "augment_rephrase.toml"
    path.write_text(path.read_text().replace("Rephrased:", "Reworded:"))
    s = states(ws)
    assert s["adapters"]["plain"] == []
    assert s["adapters"]["local"] == ["training set (documents or augmented examples changed)"]
    because = workspace_status(ws, SETTINGS)["augmented"]["local"]["stale_because"]
    assert list(because) == ["template augment_rephrase changed"]
    assert retrained_by_compare(ws, SETTINGS) == ["local"]
    shutil.copy(templates_module.Path(__file__).parent.parent / "templates" / "augment_rephrase.toml", path)
    assert states(ws)["adapters"] == {"plain": [], "local": []}

    # A document: items made from it, global items (the corpus changed), and every adapter.
    (docs / "teams.txt").write_text("The Mubadra team sits in the Quorvale building.\n")
    ingest_paths(ws, [docs], IngestConfig(workers=1))
    s = states(ws)
    # Global: each document's joins and the two implications through the Mubadra team, composed by
    # rule (augment_closure.py), which stand in for the model's chain over the same two facts.
    assert s["items"]["global"] == 4 and s["items"]["local"] >= 1
    assert all("training set" in c[0] for c in s["adapters"].values())
    assert retrained_by_compare(ws, SETTINGS) == ["plain", "local"]


@pytest.mark.slow
def test_an_adapter_records_its_rows_composition_and_documents(tmp_path, workspace_env):
    from typer.testing import CliRunner

    from adaptdocs.cli import app

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tools.txt").write_text("The Plosk tool is owned by the Mubadra team.\n")
    ws = Workspace(workspace_env)
    ingest_paths(ws, [docs], IngestConfig(workers=1))
    augment(ws, AugmentConfig(strategy="local", verify=False), model=FakeModel(rephrase_everything))
    train(ws, replace(SETTINGS, data="local"))
    record = json.loads((ws.adapter_dir("local") / "adaptdocs.json").read_text())
    assert record["training_set"]["composition"] == {"augmented:augment_rephrase": 1, "sentences": 1}
    rows = [json.loads(line) for line in (ws.adapter_dir("local") / "training_set.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["sentence", "augmented"]
    assert rows[1]["example_id"] and rows[1]["source_sentence_ids"] == rows[0]["source_sentence_ids"]
    assert adapter_currency(ws, replace(SETTINGS, data="local")).currency.current

    # The CLI judges against the default settings (not max_steps=2), so it says stale; the record is what is shown.
    shown = CliRunner().invoke(app, ["status", "--adapter", "local", "--json"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["documents"] == ["tools.txt"]
    assert data["composition"]["sentences"] == 1
