"""Training sets, packing, LoRA/QLoRA training, determinism, kill-and-resume, outputs: on a tiny random Llama."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptdocs import Workspace
from adaptdocs.cli import app
from adaptdocs.config import ModelConfig, TrainConfig
from adaptdocs.errors import AdaptdocsError
from adaptdocs.training_data import build_training_set

TEAMS = ["Mubadra", "Trimbelo", "Quessary", "Dolvane", "Zarnoth", "Korbulo"]
TOOLS = ["Plosk", "Vendrak", "Oskrel", "Lagle", "Kotrizo", "Brisnel", "Tavrune", "Gulmesh", "Yimbrot"]


def _doc_id(n: int) -> str:
    return hashlib.sha256(f"doc{n}".encode()).hexdigest()


def fill_corpus(ws: Workspace) -> None:
    """Three documents of three facts each; the last two sentences of each are list items under "Tools"."""
    for d in range(3):
        did = _doc_id(d)
        sentences = [
            {
                "id": f"{did[:8]}-s{j}", "document_id": did, "element_id": f"{did[:8]}-e{j}", "ord": j,
                "text": f"The {tool} tool is owned by the {TEAMS[(3 * d + j) % 6]} team.",
                "context": "Tools" if j else None,
            }
            for j, tool in enumerate(TOOLS[3 * d : 3 * d + 3])
        ]
        elements = [
            {"id": s["element_id"], "document_id": did, "ord": s["ord"], "type": "NarrativeText", "text": s["text"],
             "page": None, "heading_path": "", "html": None}
            for s in sentences
        ]
        document = {"id": did, "path": f"/docs/d{d}.md", "relpath": f"d{d}.md", "root": "/docs", "format": "md",
                    "bytes": 1, "mtime": 0.0, "n_elements": 3, "n_sentences": 3, "ingested_at": "now"}
        ws.store.replace_document(document, elements, sentences)


def add_examples(ws: Workspace, strategy: str, texts: list[str], document_ids: list[str]) -> None:
    key = f"{strategy}-item"
    # A global item records the corpus it was made with (augment does): another corpus makes it stale.
    item = {"key": key, "strategy": strategy, "template": "t", "document_ids": "[]", "sentence_ids": "[]",
            "corpus_hash": ws.store.corpus_hash() if strategy == "global" else None}
    examples = [
        {"id": f"{key}-{i}", "item_key": key, "strategy": strategy, "template": "t", "text": t,
         "source_sentence_ids": "[]", "source_document_ids": json.dumps([document_ids[i]])}
        for i, t in enumerate(texts)
    ]
    ws.store.save_item(item, examples)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    workspace = Workspace(tmp_path / "ws")
    fill_corpus(workspace)
    return workspace


def tiny_config(model_dir, **overrides) -> TrainConfig:
    # lr pinned: RECORDED_LOSSES must not move when the product's default rate does.
    settings = dict(model=ModelConfig(model=str(model_dir), quantize="bf16"), epochs=4, lr=1e-3, seq_len=64,
                    batch_size=2, checkpoint_every=3)
    return TrainConfig(**{**settings, **overrides})


def adapter_weights(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(adapter_dir / "adapter_model.safetensors")


class Recorder:
    def __init__(self):
        self.logs, self.infos, self.total = [], [], None

    def start(self, label, total):
        self.total = total

    def advance(self, n=1, info=""):
        if info:
            self.infos.append(info)

    def log(self, message):
        self.logs.append(message)

    def finish(self):
        pass


# -- training sets (no torch) ----------------------------------------------------------------


def test_training_set_splits(ws):
    independent = build_training_set(ws, "plain")
    assert independent.texts[:2] == ["The Plosk tool is owned by the Mubadra team.",
                                     "Tools: The Vendrak tool is owned by the Trimbelo team."]
    assert len(independent.texts) == 9 and independent.composition() == {"sentences": 9}
    cumulative = build_training_set(ws, "plain", "cumulative")
    assert cumulative.texts[2] == (
        "The Plosk tool is owned by the Mubadra team. Tools: The Vendrak tool is owned by the Trimbelo team. "
        "The Oskrel tool is owned by the Quessary team."
    )
    document = build_training_set(ws, "plain", "document")
    assert document.texts == [cumulative.texts[2], cumulative.texts[5], cumulative.texts[8]]
    assert len({independent.sha256, cumulative.sha256, document.sha256}) == 3
    assert build_training_set(ws, "plain").sha256 == independent.sha256  # deterministic


def test_training_set_augmented_and_stale(ws):
    add_examples(ws, "local", ["The Mubadra team owns the Plosk tool.", "Stale fact."], [_doc_id(0), "gone"])
    add_examples(ws, "global", ["Plosk and Tavrune belong to teams of one office."], [_doc_id(1)])
    plain = build_training_set(ws, "plain")
    local = build_training_set(ws, "local")
    assert local.texts == plain.texts + ["The Mubadra team owns the Plosk tool."]  # the stale one is left out
    assert local.composition() == {"augmented:t": 1, "sentences": 9}
    assert local.rows[-1].example_id == "local-item-0" and local.rows[-1].source_document_ids == [_doc_id(0)]
    both = build_training_set(ws, "both")
    assert both.texts == local.texts + ["Plosk and Tavrune belong to teams of one office."]
    assert both.composition() == {"augmented:t": 2, "sentences": 9}
    assert both.document_ids() == [_doc_id(i) for i in range(3)]
    assert len({plain.sha256, local.sha256, both.sha256}) == 3
    with pytest.raises(AdaptdocsError):
        build_training_set(ws, "everything")


def test_train_config_validation():
    with pytest.raises(AdaptdocsError):
        TrainConfig(lr=0)
    with pytest.raises(AdaptdocsError):
        TrainConfig(split="random")
    assert TrainConfig(target_modules=" q_proj, v_proj ").target_modules == "q_proj,v_proj"
    with pytest.raises(AdaptdocsError, match="--compile"):
        TrainConfig(compile="yes")


# -- packing ---------------------------------------------------------------------------------


def test_packing_isolates_examples_and_masks_loss(smollm_tokenizer):
    """A packed row gives each example the logits it gets alone; labels skip padding and boundaries."""
    import torch

    from adaptdocs.train import IGNORE, PackedRows, pack_examples, tokenize_examples

    from conftest import build_tiny_llama

    model = build_tiny_llama(smollm_tokenizer)
    examples = tokenize_examples(smollm_tokenizer, ["The Plosk tool is owned by Mubadra.", "Lagle is slow."], 32)
    assert examples[0][-1] == smollm_tokenizer.eos_token_id
    rows = pack_examples([len(e) for e in examples], 32, seed=0)
    assert len(rows) == 1 and sorted(rows[0]) == [0, 1]
    row = PackedRows(examples, [[0, 1]], 32, pad_id=0)[0]
    with torch.no_grad():
        packed = model(input_ids=row["input_ids"][None], position_ids=row["position_ids"][None], use_cache=False).logits[0]
        first = model(input_ids=torch.tensor([examples[0]])).logits[0]
        second = model(input_ids=torch.tensor([examples[1]])).logits[0]
    n0, n1 = len(examples[0]), len(examples[1])
    torch.testing.assert_close(packed[:n0], first, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[n0 : n0 + n1], second, atol=1e-5, rtol=1e-4)
    labels = row["labels"].tolist()
    assert labels[0] == IGNORE and labels[n0] == IGNORE and labels[1:n0] == examples[0][1:]
    assert set(labels[n0 + n1 :]) == {IGNORE} and int(row["real_tokens"]) == n0 + n1
    long = tokenize_examples(smollm_tokenizer, ["word " * 50], 16)
    assert len(long) > 1 and all(len(e) <= 16 for e in long)


# -- training --------------------------------------------------------------------------------


# Losses of the first two steps of tiny_config() on fill_corpus(), recorded when the loop was written.
RECORDED_LOSSES = [10.8332, 10.8231]


def test_train_outputs_determinism_and_skip(ws, tmp_path, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from adaptdocs.train import train

    reporter = Recorder()
    result = train(ws, tiny_config(tiny_model_dir), reporter)
    out = ws.adapter_dir("plain")
    assert not result.skipped and result.steps == reporter.total == len(result.loss_curve)
    assert reporter.infos[0].startswith("loss ") and "tok/s" in reporter.infos[0]
    # Regression: same seed, same first losses (bf16 on the CPU, hence the tolerance).
    assert [loss for _, loss in result.loss_curve[:2]] == pytest.approx(RECORDED_LOSSES, abs=5e-3)

    record = json.loads((out / "adaptdocs.json").read_text())
    assert list(record) == sorted(record)
    assert record["training_set"]["sha256"] == build_training_set(ws, "plain").sha256
    assert record["training_set"]["examples"] == 9 and record["training_set"]["split"] == "independent"
    assert record["steps"] == result.steps and record["train_tokens"] > 0 and record["final_loss"] > 0
    assert record["hyperparameters"]["rank"] == 16 and record["quantize"] == "bf16" and record["device"] == "cpu"
    assert (out / "loss.png").stat().st_size > 1000 and not (out / ".checkpoint").exists()
    run = ws.store.runs("train")[-1]
    assert run["status"] == "done"

    # Plain peft loads it.
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    PeftModel.from_pretrained(base, str(out))

    # Same data, seed and settings in another workspace: the same weights.
    other = Workspace(tmp_path / "other")
    fill_corpus(other)
    train(other, tiny_config(tiny_model_dir))
    first, second = adapter_weights(out), adapter_weights(other.adapter_dir("plain"))
    assert first.keys() == second.keys()
    for name in first:
        assert (first[name] == second[name]).all(), name

    # Current adapter: nothing trained again; a change of settings trains again.
    again = Recorder()
    skipped = train(ws, tiny_config(tiny_model_dir), again)
    assert skipped.skipped and skipped.steps == result.steps and "current" in again.logs[0]
    assert not train(ws, tiny_config(tiny_model_dir, max_steps=1)).skipped


def test_compiled_training_learns_the_same_and_writes_the_same_adapter(ws, tmp_path, tiny_model_dir):
    """--compile on: the decoder layers compiled in place (torch.compile), the same first losses
    within bf16's noise, the adapter under the same parameter names, every step of one shape."""
    from adaptdocs.train import train

    reporter = Recorder()
    result = train(ws, tiny_config(tiny_model_dir, compile="on", epochs=3), reporter)
    assert any(" compiled: " in line for line in reporter.logs)
    assert [loss for _, loss in result.loss_curve[:2]] == pytest.approx(RECORDED_LOSSES, abs=5e-2)
    eager = Workspace(tmp_path / "eager")
    fill_corpus(eager)
    train(eager, tiny_config(tiny_model_dir, compile="off", epochs=3))
    assert adapter_weights(ws.adapter_dir("plain")).keys() == adapter_weights(eager.adapter_dir("plain")).keys()


def test_train_cli_json_and_foreign_checkpoint(ws, tiny_model_dir):
    """The CLI summary; a checkpoint from other settings is ignored with a message."""
    checkpoint = ws.adapter_dir("plain") / ".checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "meta.json").write_text(json.dumps({"config_hash": "another run", "step": 3}))
    result = CliRunner().invoke(
        app, ["train", "--data", "plain", "-w", str(ws.root), "--model", str(tiny_model_dir), "--quantize", "bf16",
              "--max-steps", "2", "--seq-len", "64", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert "Ignoring the checkpoint" in result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["steps"] == 2 and summary["skipped"] is False and summary["train_tokens"] > 0


def test_qlora_nf4_on_cpu(ws, tiny_model_dir):
    from adaptdocs.train import train

    result = train(ws, tiny_config(tiny_model_dir, model=ModelConfig(model=str(tiny_model_dir), quantize="nf4"), max_steps=1))
    assert result.steps == 1 and result.final_loss > 0
    assert json.loads((ws.adapter_dir("plain") / "adaptdocs.json").read_text())["quantize"] == "nf4"


def test_kill_and_resume_matches_uninterrupted(ws, tmp_path, tiny_model_dir):
    """SIGKILL after the first checkpoint; the rerun resumes and ends with the uninterrupted run's weights."""
    from adaptdocs.train import train

    # Dropout on, so resuming must restore the random state too.
    settings = dict(epochs=12, checkpoint_every=4, dropout=0.1)
    args = ["train", "--data", "plain", "-w", str(ws.root), "--model", str(tiny_model_dir), "--quantize", "bf16",
            "--epochs", "12", "--lr", "0.001", "--seq-len", "64", "--batch-size", "2", "--checkpoint-every", "4",
            "--dropout", "0.1"]
    checkpoint = ws.adapter_dir("plain") / ".checkpoint" / "meta.json"
    env = {**os.environ, "ADAPTDOCS_RAISE_ERRORS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "adaptdocs", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    killed_at = json.loads(checkpoint.read_text())["step"]
    assert not (ws.adapter_dir("plain") / "adaptdocs.json").exists()

    resumed = CliRunner().invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming from the checkpoint at step {killed_at}" in resumed.output

    reference = Workspace(tmp_path / "reference")
    fill_corpus(reference)
    uninterrupted = train(reference, tiny_config(tiny_model_dir, **settings))
    record = json.loads((ws.adapter_dir("plain") / "adaptdocs.json").read_text())
    assert record["steps"] == uninterrupted.steps > killed_at
    assert [s for s, _ in record["loss_curve"]] == list(range(1, uninterrupted.steps + 1))
    got, want = adapter_weights(ws.adapter_dir("plain")), adapter_weights(reference.adapter_dir("plain"))
    import torch

    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-4)


def test_a_diverging_loss_goes_back_to_the_last_good_state_at_half_the_rate(ws, tiny_model_dir, monkeypatch):
    """A step whose loss is over twice the recent median (and a nat above it) restores the weights and optimizer state
    of the last checkpoint boundary and halves the peak rate; the run goes on and records it."""
    from adaptdocs import train as train_module

    fill_corpus(ws)
    real_loss, calls = train_module.causal_lm_loss, []

    def spiking_loss(model, batch):  # step 12's loss blows up (one micro-batch a step)
        calls.append(1)
        return real_loss(model, batch) * (5.0 if len(calls) == 12 else 1.0)

    monkeypatch.setattr(train_module, "causal_lm_loss", spiking_loss)
    result = train_module.train(ws, tiny_config(tiny_model_dir, epochs=12, checkpoint_every=5, lr=1e-3))
    record = json.loads((ws.adapter_dir("plain") / "adaptdocs.json").read_text())
    assert record["rollbacks"] == [[12, 10, 5e-4]]
    assert result.steps == record["steps"] and [s for s, _ in record["loss_curve"]] == list(range(1, result.steps + 1))
