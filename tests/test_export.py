"""`adaptdocs export`: merged, gguf and ollama exports load back and answer as the adapter does.

Fast tests use the tiny random Llama (conftest) with a random-initialised LoRA adapter; one slow test
runs all three formats on the real default model and compares multiple-choice answers.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptdocs import Workspace
from adaptdocs.cli import app
from adaptdocs.errors import AdaptdocsError
from adaptdocs.export import RECORD, chat_format, export, find_converter, ollama_modelfile

# Cloze questions the base model gets mostly right; the test only needs the same pick before and after export.
QUESTIONS = [
    ("The capital of France is", ["Paris", "Berlin", "Madrid", "Rome"]),
    ("Water freezes at a temperature of zero degrees", ["Celsius", "Fahrenheit", "Kelvin", "Newton"]),
    ("A week has seven", ["days", "hours", "months", "years"]),
]

SMOLLM2_MODELFILE = '''FROM ./model.gguf
TEMPLATE """{{ range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""
SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""
PARAMETER stop "<|im_end|>"
PARAMETER stop "<|im_start|>"
'''


def make_adapter(ws: Workspace, base, spec: str | None, data: str = "plain", scale: float = 1.0, seed: int = 0):
    """A LoRA adapter with random (not zero) B matrices saved as `ws`'s adapter `data`, as train leaves one.

    Returns the PeftModel over `base`, the reference the exports are compared with.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=8, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(scale)
    out = ws.adapter_dir(data)
    model.save_pretrained(out)
    record = {"request": {"model": spec, "quantize": "fp32", "device": "cpu"}, "steps": 1,
              "training_set": {"name": data, "sha256": "test"}}
    (out / "adaptdocs.json").write_text(json.dumps(record))
    return model.eval()


def logits(model):
    """The model's logits on a few fixed token ids."""
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([[1, 504, 3458, 314, 260, 1345, 282, 253, 2]])).logits[0]


def picks(model, tokenizer) -> tuple[list[int], list[list[float]]]:
    """The `acc` choice and the choices' log-likelihoods for each of QUESTIONS."""
    from adaptdocs.models import HFModel, choice_scores

    hf = HFModel(model, tokenizer)
    chosen, scores = [], []
    for question, choices in QUESTIONS:
        lps, _ = hf.loglikelihood([(question, " " + c) for c in choices])
        chosen.append(choice_scores(lps, choices)[0])
        scores.append(lps)
    return chosen, scores


@pytest.fixture
def ws(workspace_env) -> Workspace:
    return Workspace(workspace_env)


@pytest.fixture
def tiny_adapter(ws, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return make_adapter(ws, base, str(tiny_model_dir))


@pytest.fixture
def converter():
    try:
        return find_converter()
    except AdaptdocsError as e:
        pytest.skip(str(e))


def run(*args: str):
    return CliRunner().invoke(app, ["export", *args])


# -- merged --------------------------------------------------------------------------------------


def test_merged_loads_and_matches_adapter(ws, tiny_adapter, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "merged"
    result = run("--adapter", "plain", "--format", "merged", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["format"] == "merged" and summary["dtype"] == "fp32" and summary["gguf_type"] is None
    assert f"merged/{RECORD}" in summary["files"] and "merged/model.safetensors" in summary["files"]

    merged = AutoModelForCausalLM.from_pretrained(out)
    assert merged.dtype == torch.float32 and not any("lora" in n for n, _ in merged.named_parameters())
    assert AutoTokenizer.from_pretrained(out).chat_template
    torch.testing.assert_close(logits(merged), logits(tiny_adapter), atol=1e-4, rtol=1e-4)
    with tiny_adapter.disable_adapter():  # the adapter does change the model, so the comparison means something
        assert (logits(merged) - logits(tiny_adapter)).abs().max() > 1e-2
    record = json.loads((out / RECORD).read_text())
    assert list(record) == sorted(record) and record["adapter"]["name"] == "plain" and record["converter"] is None
    assert not list(tmp_path.glob(".merged.tmp-*"))


def test_export_of_a_trained_adapter(tmp_path, tiny_model_dir):
    """What `train` writes is what `export` reads (adaptdocs.json's request.model names the base)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from adaptdocs.train import train
    from test_train import fill_corpus, tiny_config

    ws = Workspace(tmp_path / "ws")
    fill_corpus(ws)
    train(ws, tiny_config(tiny_model_dir, max_steps=1))
    result = export(ws, "plain", "merged", tmp_path / "out")
    assert result.base_model == Path(tiny_model_dir).name
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    adapter = PeftModel.from_pretrained(base, str(ws.adapter_dir("plain")))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    torch.testing.assert_close(logits(merged), logits(adapter), atol=1e-4, rtol=1e-4)


# -- errors and atomicity ------------------------------------------------------------------------


def test_missing_adapter_is_one_line(ws, tmp_path):
    result = run("--adapter", "local", "--format", "merged", str(tmp_path / "out"))
    assert isinstance(result.exception, AdaptdocsError)
    assert "no adapter 'local'" in str(result.exception) and "adaptdocs train --data local" in str(result.exception)
    # Through the real entry point: exit 1 and one line on stderr, no traceback.
    done = subprocess.run([sys.executable, "-m", "adaptdocs", "export", "--adapter", "local", "--format", "merged",
                           str(tmp_path / "out"), "-w", str(ws.root)], capture_output=True, text=True)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: no adapter 'local'"), done.stderr
    assert not (tmp_path / "out").exists()


def test_existing_target_needs_force(ws, tiny_adapter, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = run("--adapter", "plain", "--format", "merged", str(out))
    assert isinstance(result.exception, AdaptdocsError) and "already exists" in str(result.exception)
    assert "--force" in str(result.exception)
    # --force replaces only an earlier export, never a directory of something else.
    result = run("--adapter", "plain", "--format", "merged", str(out), "--force")
    assert isinstance(result.exception, AdaptdocsError) and "not an adaptdocs export" in str(result.exception)
    assert (out / "mine.txt").read_text() == "keep me"

    target = tmp_path / "model"
    assert run("--adapter", "plain", "--format", "merged", str(target)).exit_code == 0
    first = (target / "model.safetensors").stat().st_mtime_ns
    result = run("--adapter", "plain", "--format", "merged", str(target), "--force")
    assert result.exit_code == 0, result.output
    assert (target / "model.safetensors").stat().st_mtime_ns != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out", "workspace"]  # no temp or .old left behind

    gguf = tmp_path / "model.gguf"
    gguf.write_text("x")
    result = run("--adapter", "plain", "--format", "gguf", str(gguf))
    assert isinstance(result.exception, AdaptdocsError) and "already exists" in str(result.exception)
    result = run("--adapter", "plain", "--format", "gguf", str(target), "--force")
    assert isinstance(result.exception, AdaptdocsError) and "not a file" in str(result.exception)


def test_failure_leaves_nothing_half_written(ws, tiny_adapter, tmp_path, monkeypatch):
    import adaptdocs.export as export_module

    earlier = tmp_path / "ollama"
    earlier.mkdir()
    (earlier / RECORD).write_text("{}")
    (earlier / "Modelfile").write_text("an earlier export")

    def broken(converter, model_dir, out_file, *args, **kwargs):
        out_file.write_bytes(b"GGUF partial")
        raise AdaptdocsError("converter crashed")

    monkeypatch.setattr(export_module, "find_converter", lambda: tmp_path)
    monkeypatch.setattr(export_module, "convert_to_gguf", broken)
    for fmt, out in (("gguf", tmp_path / "new.gguf"), ("ollama", tmp_path / "new"), ("ollama", earlier)):
        with pytest.raises(AdaptdocsError, match="converter crashed"):
            export(ws, "plain", fmt, out, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ollama", "workspace"]
    assert (earlier / "Modelfile").read_text() == "an earlier export"


def test_bad_options_and_missing_converter(ws, tiny_adapter, tmp_path, monkeypatch):
    result = run("--adapter", "plain", "--format", "onnx", str(tmp_path / "out"))
    assert isinstance(result.exception, AdaptdocsError) and "merged, gguf, ollama" in str(result.exception)
    result = run("--adapter", "plain", "--format", "gguf", "--gguf-type", "q2_k", str(tmp_path / "out.gguf"))
    assert isinstance(result.exception, AdaptdocsError) and "f32, f16" in str(result.exception)
    monkeypatch.setenv("ADAPTDOCS_LLAMA_CPP", str(tmp_path / "nowhere"))
    result = run("--adapter", "plain", "--format", "gguf", str(tmp_path / "out.gguf"))
    assert isinstance(result.exception, AdaptdocsError) and "make install-export" in str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workspace"]


# -- the Modelfile -------------------------------------------------------------------------------


def test_modelfile_from_smollm2_template(smollm_tokenizer):
    assert ollama_modelfile(smollm_tokenizer, "./model.gguf") == SMOLLM2_MODELFILE
    fmt = chat_format(smollm_tokenizer)
    messages = [{"role": "user", "content": "Who owns Plosk?"}, {"role": "assistant", "content": "Mubadra."},
                {"role": "user", "content": "And Lagle?"}]
    for conversation in (messages, [{"role": "system", "content": "Be brief."}, *messages]):
        assert fmt.render(conversation) == smollm_tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True)


def test_modelfile_other_templates(smollm_tokenizer):
    import copy

    tokenizer = copy.deepcopy(smollm_tokenizer)
    # ChatML without a default system prompt: no SYSTEM line.
    tokenizer.chat_template = (
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    modelfile = ollama_modelfile(tokenizer, "./model.gguf")
    assert "SYSTEM" not in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    # Role-specific markup (Llama 2 style) and content rewriting (trim) have no Go-template translation here.
    for template in (
        "{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
        "{% else %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}",
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] | trim + '<|im_end|>\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    ):
        tokenizer.chat_template = template
        with pytest.raises(AdaptdocsError, match="cannot translate the model's chat template"):
            ollama_modelfile(tokenizer, "./model.gguf")
    tokenizer.chat_template = None
    with pytest.raises(AdaptdocsError, match="no chat template"):
        ollama_modelfile(tokenizer, "./model.gguf")


# -- gguf ----------------------------------------------------------------------------------------


def test_gguf_loads_in_transformers_and_matches(ws, tiny_adapter, tmp_path, converter):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "tiny.gguf"
    result = run("--adapter", "plain", "--format", "gguf", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{"):])["gguf_type"] == "f32"
    assert out.read_bytes()[:4] == b"GGUF" and sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf", "workspace"]
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=out.name, dtype=torch.float32)
    torch.testing.assert_close(logits(loaded), logits(tiny_adapter), atol=1e-4, rtol=1e-4)


# -- the real default model, all three formats ---------------------------------------------------


@pytest.mark.slow
def test_real_model_exports_answer_as_the_adapter(ws, tmp_path, converter):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adaptdocs.models import load_pretrained

    base, tokenizer, _ = load_pretrained(None, quantize="fp32", device="cpu")
    adapter = make_adapter(ws, base, None, scale=0.1)
    want, want_scores = picks(adapter, tokenizer)
    adapted = logits(adapter)
    with adapter.disable_adapter():  # the adapter does change the model, so agreeing with it means something
        assert (adapted - logits(adapter)).abs().max() > 0.5

    def assert_same(model, tok):
        got, scores = picks(model, tok)
        assert got == want
        for q, r in zip(scores, want_scores):
            assert q == pytest.approx(r, abs=2e-3)

    assert run("--adapter", "plain", "--format", "merged", str(tmp_path / "merged")).exit_code == 0
    merged = tmp_path / "merged"
    assert_same(AutoModelForCausalLM.from_pretrained(merged), AutoTokenizer.from_pretrained(merged))

    gguf = tmp_path / "smollm2-plain.gguf"
    assert run("--adapter", "plain", "--format", "gguf", str(gguf)).exit_code == 0
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf.name, dtype=torch.float32)
    assert_same(loaded, AutoTokenizer.from_pretrained(tmp_path, gguf_file=gguf.name))

    ollama = tmp_path / "ollama"
    assert run("--adapter", "plain", "--format", "ollama", str(ollama)).exit_code == 0
    assert sorted(p.name for p in ollama.iterdir()) == sorted(["model.gguf", "Modelfile", RECORD])
    modelfile = (ollama / "Modelfile").read_text()
    assert modelfile.startswith("# adaptdocs ") and modelfile.split("\n", 1)[1] == SMOLLM2_MODELFILE
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (gguf, ollama / "model.gguf")]
    assert digest[0] == digest[1]  # the same GGUF, checked above
