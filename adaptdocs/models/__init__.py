"""Models: resolve and load a language model, and talk to it through one interface.

Backends live in one registry, a plain dict from name to class. A model spec picks one:
`<backend>:<address>` for a registered backend other than `hf`, else `hf` (in-process
transformers: the default model, a HF id, a model directory or a .gguf file). `openai` is a
server speaking the OpenAI completions API: `openai:http://host:port/v1/MODEL`.
Heavy libraries (torch, transformers, peft) are imported inside the functions that need them.
"""

from .base import Model, ModelInfo, Usage
from .hf import HFModel, describe
from .loading import choose_precision, load_model, load_pretrained, resolve_model
from .openai_compat import OpenAICompatModel
from .scoring import choice_scores

BACKENDS: dict[str, type[Model]] = {"hf": HFModel, "openai": OpenAICompatModel}


def backend_of(spec: str | None) -> tuple[str, str | None]:
    """(backend name, the rest of the spec): `name:rest` when `name` is registered, else ("hf", spec)."""
    if spec and ":" in spec:
        name, rest = spec.split(":", 1)
        if name in BACKENDS and name != "hf":
            return name, rest
    return "hf", spec


__all__ = [
    "BACKENDS",
    "HFModel",
    "Model",
    "ModelInfo",
    "OpenAICompatModel",
    "Usage",
    "backend_of",
    "choice_scores",
    "choose_precision",
    "describe",
    "load_model",
    "load_pretrained",
    "resolve_model",
]
