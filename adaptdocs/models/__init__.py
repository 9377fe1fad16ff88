"""Models: resolve and load a language model, and talk to it through one interface.

Heavy libraries (torch, transformers, peft) are imported inside the functions that need them.
"""

from .base import Model, ModelInfo, Usage
from .hf import HFModel
from .loading import choose_precision, load_model, load_pretrained, resolve_model
from .scoring import choice_scores

__all__ = [
    "HFModel",
    "Model",
    "ModelInfo",
    "Usage",
    "choice_scores",
    "choose_precision",
    "load_model",
    "load_pretrained",
    "resolve_model",
]
