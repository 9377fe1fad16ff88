"""Shared test fixtures: a temporary workspace for every test, and a tiny random Llama.

ADAPTDOCS_CACHE is left alone on purpose: the real default model is converted from its GGUF once
per machine (~25 s) into the user cache, not once per test. The tiny model uses the real SmolLM2
tokenizer, read from that converted copy.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def workspace_env(tmp_path, monkeypatch):
    """Every test gets its own workspace (ADAPTDOCS_WORKSPACE) and the default model."""
    monkeypatch.setenv("ADAPTDOCS_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.delenv("ADAPTDOCS_MODEL", raising=False)
    return tmp_path / "workspace"


@pytest.fixture(scope="session")
def smollm_tokenizer():
    """The real SmolLM2-135M-Instruct tokenizer (from the converted default model in the cache)."""
    from transformers import AutoTokenizer

    from adaptdocs.models.loading import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(None).path)


def build_tiny_llama(tokenizer, seed: int = 0):
    """A randomly initialised 2-layer Llama over `tokenizer`'s vocabulary, fp32, eval mode."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).to(torch.float32).eval()


@pytest.fixture
def tiny_model(smollm_tokenizer):
    """An HFModel over a fresh tiny random Llama (same seed, same weights every time).

    Built per test (a few ms) so a test that trains or wraps it with peft cannot leak into another.
    """
    from adaptdocs.models import HFModel
    from adaptdocs.models.loading import describe

    model = build_tiny_llama(smollm_tokenizer)
    return HFModel(model, smollm_tokenizer, describe(model, smollm_tokenizer, name="tiny-llama", source="test fixture"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm_tokenizer):
    """A directory holding the tiny Llama and tokenizer (save_pretrained), loadable by load_model(dir)."""
    path = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(smollm_tokenizer).save_pretrained(path)
    smollm_tokenizer.save_pretrained(path)
    return path
