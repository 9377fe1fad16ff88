"""The model interface every stage talks to: generate text, score continuations.

A backend implements `generate` and `loglikelihood`; both take an optional `prefix` shared by
every prompt of the call (the corpus, for ICL and global augmentation), which a backend may
encode once and reuse. Both return what they cost as `Usage`, which later stages add up for
the cost report.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields

from ..progress import NullReporter, Reporter


@dataclass
class Usage:
    prompt_tokens: int = 0  # tokens encoded by the model in this call
    cached_tokens: int = 0  # tokens served from a reused prefix cache instead of being encoded
    generated_tokens: int = 0
    seconds: float = 0.0
    flops: float = 0.0  # estimate: 2 × parameters × tokens processed

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class ModelInfo:
    name: str
    source: str  # where the weights came from: package file, cache, HF id, directory, .gguf
    parameters: int
    dtype: str  # bf16, fp32, nf4, int8
    device: str
    context_length: int
    has_chat_template: bool
    adapter: str | None = None
    reason: str = ""  # why this precision/device was chosen (auto)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Model(ABC):
    """A language model that can generate and score text.

    A backend declares what it can do: `can_score` (log-likelihoods, which evaluation needs) and
    `can_train` (LoRA adapters: in-process weights). `load` builds one from a spec.
    """

    info: ModelInfo
    can_score: bool = True
    can_train: bool = False

    @classmethod
    def load(cls, spec: str | None, *, quantize: str = "auto", device: str = "auto", adapter=None,
             reporter: Reporter = NullReporter(), concurrency: int = 4) -> Model:
        """Build the backend for `spec` (the part after `<backend>:`, or the whole spec for `hf`).

        `concurrency` is how many requests a server backend keeps in flight; in-process ones ignore it.
        """
        raise NotImplementedError(f"{cls.__name__} cannot be loaded from a spec")

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        *,
        prefix: str = "",
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        batch_size: int = 16,
        reporter: Reporter = NullReporter(),
    ) -> tuple[list[str], Usage]:
        """Continue each `prefix + prompt`; return the new text of each (cut at the first stop string).

        Args:
            prompts: the prompts, each continued independently.
            prefix: text placed before every prompt, encoded once where the backend can.
            max_new_tokens: the most tokens generated per prompt.
            temperature: 0 for greedy decoding; above 0 samples, reproducibly for one `seed`.
            seed: the sampling seed.
            stop: generation of a prompt ends at the first of these strings (not included).
            batch_size: prompts processed together.
            reporter: advanced by one per finished prompt.
        """

    @abstractmethod
    def loglikelihood(
        self,
        requests: Sequence[tuple[str, str]],
        *,
        prefix: str = "",
        batch_size: int = 32,
        reporter: Reporter = NullReporter(),
    ) -> tuple[list[float], Usage]:
        """Summed log-probability of each `continuation` after `prefix + context`.

        Args:
            requests: (context, continuation) pairs; the continuation carries its own leading space.
            prefix: text placed before every context, encoded once where the backend can.
            batch_size: sequences processed together.
            reporter: advanced by one per finished request.
        """

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's tokenizer."""

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        """Render chat messages into the prompt text this model was tuned on."""
        raise NotImplementedError(f"{self.info.name} has no chat template")
