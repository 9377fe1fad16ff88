"""Training under `accelerate launch` with two CPU processes (DDP over gloo) on the tiny random Llama.

Two processes × --batch-size 1 take the same optimizer steps as one process × --batch-size 2:
the same rows per step, the gradient of the global batch, so the same losses up to float
reduction order. Only the main process writes (checkpoints, the adapter, the run record) and
reports (one progress bar). A kill mid-run resumes from the last checkpoint.

Three launches of two processes and one single-process run take ~55 s on two busy cores: marked
`slow` (in `make test`) and `ddp` (`make test-ddp` runs these alone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from adaptdocs import Workspace
from adaptdocs.config import ModelConfig
from test_train import fill_corpus, tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.ddp]

STEPS = 8


def launch(ws: Workspace, model_dir, *extra: str) -> list[str]:
    # --multi_gpu without --cpu: accelerate's launcher then starts the processes (torchrun's), and
    # on a machine without CUDA adaptdocs tells accelerate `cpu`, which makes it DDP over gloo.
    # (`--cpu --num_processes 2` would start one process: accelerate's multi-CPU launch is mpirun's.)
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "adaptdocs", "train", "--data", "plain",
            "-w", str(ws.root), "--model", str(model_dir), "--quantize", "fp32", "--batch-size", "1",
            "--max-steps", str(STEPS), "--epochs", "12", "--lr", "0.001", "--seq-len", "64", *extra]


def environment() -> dict:
    # One thread per process: two processes share the two cores.
    return {**os.environ, "OMP_NUM_THREADS": "1", "ADAPTDOCS_RAISE_ERRORS": "1"}


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, tiny_model_dir):
    from adaptdocs.train import train

    single = Workspace(tmp_path / "single")
    fill_corpus(single)
    one = train(single, tiny_config(tiny_model_dir, model=ModelConfig(str(tiny_model_dir), quantize="fp32"), batch_size=2, epochs=12,
                                    max_steps=STEPS, checkpoint_every=100))

    ws = Workspace(tmp_path / "ddp")
    fill_corpus(ws)
    done = subprocess.run(launch(ws, tiny_model_dir, "--checkpoint-every", "100"), env=environment(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((ws.adapter_dir("plain") / "adaptdocs.json").read_text())
    assert record["processes"] == 2 and record["steps"] == one.steps == STEPS
    assert record["final_loss"] == pytest.approx(one.final_loss, rel=0.02)
    for (s1, l1), (s2, l2) in zip(one.loss_curve, record["loss_curve"]):
        assert s1 == s2 and l2 == pytest.approx(l1, rel=0.02)
    # One process reported: one "Training ..." note, one summary table, one run record.
    assert done.stderr.count("Training plain") == 1 and done.stdout.count("Train plain") == 1, done.stdout + done.stderr
    assert [r["status"] for r in ws.store.db["runs"].rows_where("stage = 'train'")] == ["done"]
    # The adapter is a PEFT directory like any other.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(ws.adapter_dir("plain")))


def test_two_processes_killed_and_resumed(tmp_path, tiny_model_dir):
    ws = Workspace(tmp_path / "ws")
    fill_corpus(ws)
    command = launch(ws, tiny_model_dir, "--checkpoint-every", "2")
    checkpoint = ws.adapter_dir("plain") / ".checkpoint" / "meta.json"
    process = subprocess.Popen(command, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # The launcher and both workers at once (torch's launcher puts workers in sessions of their own:
    # killing its process group alone would leave them training).
    launched = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    for p in launched:
        p.kill()
    _, stderr = process.communicate()
    psutil.wait_procs(launched, timeout=30)
    assert checkpoint.exists(), stderr.decode()[-3000:]
    killed_at = json.loads(checkpoint.read_text())["step"]
    assert killed_at < STEPS and not (ws.adapter_dir("plain") / "adaptdocs.json").exists()
    assert sorted(p.name for p in ws.adapter_dir("plain").iterdir()) == [".checkpoint"]  # one writer, no strays

    resumed = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.count("Resuming from the checkpoint at step") == 1
    record = json.loads((ws.adapter_dir("plain") / "adaptdocs.json").read_text())
    assert record["steps"] == STEPS and [s for s, _ in record["loss_curve"]] == list(range(1, STEPS + 1))
