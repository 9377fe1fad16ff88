"""One typed dataclass per stage: every default in one place, each with the reason for it.

Layering is defaults, then flags. The resolved config is saved beside each artefact
(`adaptdocs.json`) and in the `runs` table, so a run can be reproduced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import AdaptdocsError

QUANTIZE_CHOICES = ("auto", "nf4", "int8", "bf16", "fp32")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
STRATEGIES = ("local", "global")
TRAINING_SETS = ("plain", "local", "global", "both")
SPLITS = ("independent", "cumulative", "document")
CONDITIONS = ("base", "icl", "ft-plain", "ft-local", "ft-global", "ft-both")


def _check(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise AdaptdocsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


@dataclass
class ModelConfig:
    # None: the embedded SmolLM2-135M-Instruct; else a HF id, a model directory or a .gguf file.
    model: str | None = None
    # auto: nf4 on CUDA above ~1B parameters, else bf16 where the hardware has it, else fp32.
    quantize: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        _check(self.quantize, QUANTIZE_CHOICES, "--quantize")
        _check(self.device, DEVICE_CHOICES, "--device")


@dataclass
class IngestConfig:
    # Larger files are refused: they are rarely prose and would stall the parser.
    max_bytes: int = 50 * 1024 * 1024
    # Parsing is CPU-bound; one process per core, the store written by the parent alone.
    workers: int | None = None
    prune: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise AdaptdocsError("--max-bytes must be positive")


@dataclass
class AugmentConfig:
    strategy: str = "both"
    model: ModelConfig = field(default_factory=ModelConfig)
    # Stop after this many items per strategy (a quick look at the output).
    limit: int | None = None
    # Samples per prompt; 1 with temperature 0 is greedy, the most faithful for small models.
    samples: int = 1
    temperature: float = 0.0
    seed: int = 0
    batch_size: int = 16
    dry_run: bool = False

    def __post_init__(self) -> None:
        _check(self.strategy, STRATEGIES + ("both",), "--strategy")
        if self.samples < 1:
            raise AdaptdocsError("--samples must be at least 1")
        if self.samples > 1 and self.temperature <= 0:
            raise AdaptdocsError("--samples above 1 needs --temperature above 0", "greedy samples are identical")

    @property
    def strategies(self) -> tuple[str, ...]:
        return STRATEGIES if self.strategy == "both" else (self.strategy,)


def to_dict(config) -> dict:
    return asdict(config)
