"""Shared test fixtures: a temporary workspace for every test, and a tiny random Llama.

ADAPTDOCS_CACHE is left alone on purpose: the real default model is converted from its GGUF once
per machine (~25 s) into the user cache, not once per test. The tiny model uses the real SmolLM2
tokenizer, read from that converted copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from adaptdocs.environment import use_offline_environment
from adaptdocs.models.base import Model, ModelInfo, Usage

use_offline_environment()  # the test session is an entry point, like the CLI


def add_document(ws, relpath: str, sentences: list[str]) -> str:
    """Put one document (its sentences, one element) into `ws`'s store with a content-hash id; returns the id."""
    import hashlib

    text = " ".join(sentences)
    doc_id = hashlib.sha256(text.encode()).hexdigest()
    ws.store.replace_document(
        {"id": doc_id, "path": f"/docs/{relpath}", "relpath": relpath, "root": "/docs", "format": "md",
         "bytes": len(text), "mtime": 0.0, "n_elements": 1, "n_sentences": len(sentences), "ingested_at": "now"},
        [{"id": f"{doc_id}:e0", "document_id": doc_id, "ord": 0, "type": "NarrativeText", "text": text,
          "page": None, "heading_path": "", "html": None}],
        [{"id": f"{doc_id}:s{i}", "document_id": doc_id, "element_id": f"{doc_id}:e0", "ord": i, "text": s,
          "context": None} for i, s in enumerate(sentences)],
    )
    return doc_id


def store_corpus(root, facts: dict[str, list[str]]):
    """A Workspace at `root` with `facts` (relative path → sentences) put straight into the store,
    the way ingest leaves them (no parser needed)."""
    import hashlib

    from adaptdocs.workspace import Workspace

    ws = Workspace(root)
    for relpath, sentences in facts.items():
        doc_id = hashlib.sha256(relpath.encode()).hexdigest()
        ws.store.replace_document(
            {"id": doc_id, "path": f"/docs/{relpath}", "relpath": relpath, "root": "/docs", "format": "md", "bytes": 1,
             "mtime": 0.0, "n_elements": 1, "n_sentences": len(sentences), "ingested_at": "now"},
            [{"id": f"{doc_id}-e0", "document_id": doc_id, "ord": 0, "type": "NarrativeText", "text": " ".join(sentences),
              "page": None, "heading_path": "", "html": None}],
            [{"id": f"{doc_id[:8]}-s{i}", "document_id": doc_id, "element_id": f"{doc_id}-e0", "ord": i, "text": s,
              "context": None} for i, s in enumerate(sentences)],
        )
    return ws


class FakeModel(Model):
    """A scripted model for testing the flow of augment and evaluate without weights.

    Args:
        respond: `respond(prefix, prompt) -> text` answers generate; every call is recorded.
        score: `score(prefix, context, continuation) -> log-probability` answers loglikelihood.
        context_length: what info reports. Tokens are whitespace-separated words.
    """

    def __init__(self, respond: Callable[[str, str], str] | None = None,
                 score: Callable[[str, str, str], float] | None = None, context_length: int = 8192):
        self.respond = respond or (lambda prefix, prompt: "")
        self.score = score
        self.info = ModelInfo("fake", "test", 1, "fp32", "cpu", context_length, False)
        self.calls: list[dict] = []
        self.score_calls: list[tuple[str, list[tuple[str, str]]]] = []

    def generate(self, prompts: Sequence[str], *, prefix: str = "", max_new_tokens: int = 64, temperature: float = 0.0,
                 seed: int = 0, stop: Sequence[str] = (), batch_size: int = 16, reporter=None):
        self.calls.append({"prefix": prefix, "prompts": list(prompts), "stop": list(stop), "temperature": temperature})
        texts = [self.respond(prefix, p) for p in prompts]
        usage = Usage(prompt_tokens=sum(self.count_tokens(p) for p in prompts),
                      cached_tokens=self.count_tokens(prefix) * len(prompts),
                      generated_tokens=sum(self.count_tokens(t) for t in texts), seconds=0.01)
        return texts, usage

    def loglikelihood(self, requests, *, prefix="", batch_size=32, reporter=None):
        if self.score is None:
            raise NotImplementedError("this FakeModel was given no score function")
        self.score_calls.append((prefix, list(requests)))
        return [self.score(prefix, c, x) for c, x in requests], Usage(prompt_tokens=len(requests))

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    @property
    def prompts(self) -> list[str]:
        return [c["prefix"] + p for c in self.calls for p in c["prompts"]]


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
    from adaptdocs.models import describe

    model = build_tiny_llama(smollm_tokenizer)
    return HFModel(model, smollm_tokenizer, describe(model, smollm_tokenizer, name="tiny-llama", source="test fixture"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm_tokenizer):
    """A directory holding the tiny Llama and tokenizer (save_pretrained), loadable by load_model(dir)."""
    path = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(smollm_tokenizer).save_pretrained(path)
    smollm_tokenizer.save_pretrained(path)
    return path
