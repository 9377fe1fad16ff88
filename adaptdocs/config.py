"""One typed dataclass per stage: every default in one place, each with the reason for it.

Layering is defaults, then flags. The resolved config is saved beside each artefact
(`adaptdocs.json`) and in the `runs` table, so a run can be reproduced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import AdaptdocsError

# Nats by which a verified statement must beat each of its corruptions (verify.py).
VERIFY_MARGIN = 1.0

QUANTIZE_CHOICES = ("auto", "nf4", "int8", "bf16", "fp32")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
STRATEGIES = ("local", "global")
TRAINING_SETS = ("plain", "local", "global", "both")
SPLITS = ("independent", "cumulative", "document")
COMPILE_SETTINGS = ("auto", "on", "off")
# The conditions compare runs by default: the paper's six, retrieval (rag: BM25 passages in the
# base model's prompt), and retrieval over the adapter trained on everything.
CONDITIONS = ("base", "icl", "rag", "ft-plain", "ft-local", "ft-global", "ft-both", "rag+ft-both")
CONDITION_HELP = "base | icl | rag | ft-<data> | rag+ft-<data>, <data> one of " + ", ".join(TRAINING_SETS)


def parse_condition(name: str, option: str = "--conditions") -> tuple[str | None, str | None]:
    """(retrieval: None | "icl" | "rag", training set or None) of a condition name; unknown names are an error."""
    if name in ("base", "icl", "rag"):
        return (None if name == "base" else name), None
    retrieval, _, tuned = name.rpartition("+")
    if retrieval in ("", "rag") and tuned.startswith("ft-") and tuned.removeprefix("ft-") in TRAINING_SETS:
        return (retrieval or None), tuned.removeprefix("ft-")
    raise AdaptdocsError(f"{option}: unknown condition {name!r}", f"pick {CONDITION_HELP}")


def _check(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise AdaptdocsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


@dataclass
class ModelConfig:
    # None: the embedded SmolLM2-135M-Instruct; else a HF id, a model directory or a .gguf file,
    # or openai:http://HOST:PORT/v1/MODEL for a model on an OpenAI-compatible server.
    model: str | None = None
    # auto: nf4 on CUDA above ~1B parameters, else bf16 where the hardware has it, else fp32.
    quantize: str = "auto"
    device: str = "auto"
    # Requests in flight to a server backend (openai:). 4 keeps a batching server (vLLM,
    # llama-server --parallel) busy without queueing much; in-process models ignore it.
    concurrency: int = 4

    def __post_init__(self) -> None:
        _check(self.quantize, QUANTIZE_CHOICES, "--quantize")
        _check(self.device, DEVICE_CHOICES, "--device")
        if self.concurrency < 1:
            raise AdaptdocsError("--concurrency must be at least 1")


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
    # Prompts generated together; finished rows leave the batch. 32 was 13% faster than 16 on
    # the sample corpus's local prompts here (160 items: 27 s vs 31 s). Items are saved per batch,
    # so a kill loses at most one; a server backend sends a batch `concurrency` requests at a time.
    batch_size: int = 32
    dry_run: bool = False
    # Keep a written example only when the model, with its source sentences in the prompt, prefers
    # it to each of its corruptions by this many nats (verify.py). Off: every filtered example is kept.
    verify: bool = True
    verify_margin: float = VERIFY_MARGIN
    # A sentence naming something of which greedy decoding kept nothing gets this many sampled
    # question-answer pairs (augment.RESAMPLE_TEMPERATURE), kept only if they verify; 0: off.
    resample: int = 4

    def __post_init__(self) -> None:
        _check(self.strategy, STRATEGIES + ("both",), "--strategy")
        if self.samples < 1:
            raise AdaptdocsError("--samples must be at least 1")
        if self.samples > 1 and self.temperature <= 0:
            raise AdaptdocsError("--samples above 1 needs --temperature above 0", "greedy samples are identical")
        if self.resample < 0:
            raise AdaptdocsError("--resample must be 0 (off) or more")

    @property
    def strategies(self) -> tuple[str, ...]:
        return STRATEGIES if self.strategy == "both" else (self.strategy,)


@dataclass
class CompareConfig:
    # The question set (JSONL, design.md's schema); "" builds the exam from the documents (exam.py).
    questions: str = ""
    # The generated exam's size; None: all it can make, at most 200.
    exam_size: int | None = None
    # False: the generated exam holds only the kinds built by rule (no model-written questions): fast.
    exam_by_model: bool = True
    conditions: tuple[str, ...] = CONDITIONS
    model: ModelConfig = field(default_factory=ModelConfig)
    # Use the adapters that exist; a condition whose adapter is missing is skipped with a warning.
    no_train: bool = False
    # Bootstrap resampling seed (and passed to augment/train runs compare starts).
    seed: int = 0
    # Stop at the first malformed question line instead of skipping it.
    strict: bool = False
    # Sequences scored together; 32 × ~64 tokens keeps a 135M model's forward near peak on 2 cores.
    batch_size: int = 32
    # When the corpus does not fit the context, each icl question gets this many tokens of BM25-ranked
    # passages at most: nothing is shared across questions then, so every question pays them.
    retrieval_tokens: int = 1024
    # rag: passages per question; a sentence is one fact, so a few cover a question and its neighbours.
    rag_k: int = 5
    # rag: the most passage tokens per question; 5 sentences with headings take ~150 tokens of SmolLM2's tokenizer.
    rag_tokens: int = 512
    # Settings for the augment and train runs compare starts (strategy/data are set per condition).
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # The model that writes the augmented examples (--teacher); None: `model`, the one trained and evaluated.
    teacher: ModelConfig | None = None
    train: TrainConfig | None = None  # None: TrainConfig's defaults, with this model and seed

    def __post_init__(self) -> None:
        if isinstance(self.conditions, str):
            self.conditions = tuple(c.strip() for c in self.conditions.split(",") if c.strip())
        self.conditions = tuple(dict.fromkeys(self.conditions))
        for condition in self.conditions:
            parse_condition(condition)
        if not self.conditions:
            raise AdaptdocsError("--conditions names no condition", f"pick from {', '.join(CONDITIONS)}")
        if self.batch_size < 1:
            raise AdaptdocsError("--batch-size must be at least 1")


@dataclass
class TrainConfig:
    # plain | local | global | both: the corpus, plus which augmented examples.
    data: str = "plain"
    model: ModelConfig = field(default_factory=ModelConfig)
    # Passes over the training set. On sample_corpus with SmolLM2-135M, 4 rows a step: 12 passes at
    # lr 4e-3 keep ft-plain's recall at 1.00 (16/16); 8 passes lose it (0.81 at 4e-3, 0.62 at 6e-3,
    # 0.75 at 2 rows and 3e-3), so fewer passes do not buy the same adapter.
    epochs: int = 12
    # Stop after this many optimizer steps (None: run all epochs); for quick looks and tests.
    max_steps: int | None = None
    # Small LoRA adapters want a higher rate than full fine-tuning (the paper's 3e-4 was for a large model);
    # 4e-3 with 4 rows a step matches what 2e-3 did with 1 row (same report within its intervals).
    lr: float = 4e-3
    # r=16 on every linear layer (~4.9M trainable for SmolLM2-135M) holds a few hundred facts.
    rank: int = 16
    # alpha = 2 × rank, the usual LoRA scaling; the update is scaled by alpha / rank.
    alpha: float = 32.0
    # No dropout: the goal is to memorise facts seen a few times each, and 0 is also faster.
    dropout: float = 0.0
    # all-linear (peft's name for every linear layer but the output head), or a comma list such as q_proj,v_proj.
    target_modules: str = "all-linear"
    # Packed rows per micro-batch. 4 × 128 tokens keeps the CPU's matrix units busier than 1 row
    # (fp32 LoRA training here: 295 vs 222 tokens/s; 8 rows no faster) while a small corpus still gets
    # enough updates (sample_corpus plain: 54 steps; 2 × 256 for 8 epochs had left it at loss 1.8).
    batch_size: int = 4
    # Micro-batches per optimizer step; raise it instead of --batch-size when memory is short.
    grad_accum: int = 1
    # Row length examples are packed into; sentences are ~20 tokens, documents longer ones are split.
    seq_len: int = 128
    seed: int = 0
    # independent: one example per sentence, the paper's best splitting.
    split: str = "independent"
    # Optimizer steps between checkpoints (~40 s of CPU training with the defaults).
    checkpoint_every: int = 25
    # torch.compile of the model's repeated decoder layers (and its other leaf modules), in place:
    # auto | on | off. auto compiles on the CPU, for a bf16 or fp32 model, when the run has at least
    # COMPILE_MIN_STEPS steps (train.py says what it costs and buys).
    compile: str = "auto"

    def __post_init__(self) -> None:
        _check(self.data, TRAINING_SETS, "--data")
        _check(self.split, SPLITS, "--split")
        _check(self.compile, COMPILE_SETTINGS, "--compile")
        for name in ("epochs", "rank", "batch_size", "grad_accum", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise AdaptdocsError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise AdaptdocsError("--max-steps must be at least 1")
        if self.lr <= 0 or self.alpha <= 0:
            raise AdaptdocsError("--lr and --alpha must be positive")
        if not 0 <= self.dropout < 1:
            raise AdaptdocsError("--dropout must be in [0, 1)")
        if self.seq_len < 16:
            raise AdaptdocsError("--seq-len must be at least 16")
        self.target_modules = ",".join(m.strip() for m in self.target_modules.split(",") if m.strip())
        if not self.target_modules:
            raise AdaptdocsError("--target-modules must name at least one module", "or pass all-linear")

    def hyperparameters(self) -> dict:
        """Everything besides data and model that decides the adapter's weights."""
        names = ("epochs", "max_steps", "lr", "rank", "alpha", "dropout", "target_modules", "batch_size",
                 "grad_accum", "seq_len", "split", "seed")
        return {n: getattr(self, n) for n in names}


def to_dict(config) -> dict:
    return asdict(config)
