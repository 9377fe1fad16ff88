"""LoRA / QLoRA fine-tuning of a model on one training set, resumable, with its cost recorded.

`train` has three phases, like a torchtune recipe: setup (training set, model, adapter, packed
data, optimizer), the training loop (with atomic checkpoints), cleanup (the PEFT adapter directory
with `adaptdocs.json` and `loss.png`, written atomically). Helpers sit beside it.

Batching packs short examples (each `text + EOS`) into rows of `seq_len` tokens. Position ids
restart at every example and no 2D attention mask is passed, so transformers builds a
block-diagonal causal mask: no token attends across an example boundary. The loss counts real
tokens only (not padding, and not an example's first token predicted from the previous example).

Device placement, DDP and gradient sync go through `accelerate`, so the same function runs under
`accelerate launch` on several GPUs; on one CPU process the Accelerator only hands things back.
"""

from __future__ import annotations

import json
import math
import random
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .atomic import replace_dir, temp_dir
from .config import TrainConfig, to_dict
from .environment import use_offline_environment
from .errors import AdaptdocsError
from .progress import NullReporter, Reporter
from .lineage import adapter_currency, sha
from .training_data import TrainingSet, export_training_set

IGNORE = -100  # label of tokens the loss skips (torch cross_entropy's ignore_index)
CHECKPOINT = ".checkpoint"
TRAINING_ROWS = "training_set.jsonl"  # beside the adapter: every row it learned, with its source ids
WARMUP_FRACTION = 0.05  # a few warm-up steps keep the first Adam updates from overshooting
MIN_LR_FRACTION = 0.1  # cosine decay to 10% of the peak rate, not to zero: late epochs still learn
# A step whose loss is this many times the median of the last LOSS_WINDOW steps, and SPIKE_NATS
# above it, has diverged (see _train_loop). Healthy packed steps of one run vary up to ~1.8x that
# median; late in a run, when the median is 0.4, by ~2x but a fraction of a nat.
SPIKE_FACTOR = 2.0
SPIKE_NATS = 1.0
LOSS_WINDOW = 10
# Rows up to this length train with eager attention on the CPU (see use_training_attention).
EAGER_ATTENTION_MAX_SEQ_LEN = 512
# --compile auto compiles runs of at least this many steps: the first compile of a model's layers
# costs ~30 s once (torch caches it on disk for every later run and adapter), a step of 4 × 128
# tokens then saves ~0.3 s on the CPU.
COMPILE_MIN_STEPS = 50


@dataclass
class TrainResult:
    data: str
    adapter_dir: Path
    skipped: bool  # the adapter was already current: nothing trained
    steps: int
    epochs: float
    train_tokens: int
    train_seconds: float
    final_loss: float | None
    resumed_from_step: int | None = None
    loss_curve: list[list[float]] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds else 0.0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["adapter_dir"] = str(self.adapter_dir)
        data["tokens_per_second"] = round(self.tokens_per_second, 1)
        return data


def train(ws, config: TrainConfig, reporter: Reporter = NullReporter()) -> TrainResult:
    """Fine-tune a LoRA adapter on one training set into `<workspace>/adapters/<data>/`.

    Skips the work when the adapter there was trained on the same training set (hash) with the
    same settings. After a kill or Ctrl-C, rerunning resumes from the last checkpoint.

    Args:
        ws: the Workspace.
        config: what to train on and how (TrainConfig).
        reporter: progress per optimizer step (loss, tokens/s) and one-line notes.
    """
    ws.require_documents()
    _require_trainable(config.model.model)
    main = _is_main_process(config, reporter)
    if not main:  # under `accelerate launch`: one progress bar and one set of notes, the main process's
        reporter = NullReporter()
    adapter = adapter_currency(ws, config)
    training_set = adapter.training_set
    if not training_set.rows:
        raise AdaptdocsError(f"training set {config.data} is empty", "ingest documents with text first")
    out_dir = ws.adapter_dir(config.data)
    if adapter.currency.current:
        reporter.log(f"Adapter {out_dir} is current (same training set and settings): not training again.")
        return _result_from_record(config.data, out_dir, adapter.record, skipped=True)
    if not adapter.missing:
        reporter.log(f"Adapter {out_dir} is stale ({'; '.join(adapter.currency.changed)}): training it again.")

    run_id = ws.store.start_run("train", {**to_dict(config), "training_set": training_set.sha256}) if main else None

    def finish_run(status: str, data: dict) -> None:
        if run_id is not None:
            ws.store.finish_run(run_id, status, data)

    session = None
    try:
        session = _setup(ws, config, training_set, adapter.inputs, reporter)
        _train_loop(session, reporter)
        result = _save_adapter(session)
    except KeyboardInterrupt:
        finish_run("interrupted", {"step": session.step if session else 0})
        if session is not None:
            reporter.log(
                f"Interrupted at step {session.step}; the checkpoint at step {session.checkpointed_step} stays in "
                f"{session.checkpoint_dir}. Rerun the same command to resume."
            )
        raise
    except Exception as e:
        finish_run("failed", {"error": str(e)})
        if _is_out_of_memory(e):
            raise AdaptdocsError(
                f"out of memory training with --batch-size {config.batch_size} and --seq-len {config.seq_len}",
                "lower --batch-size (raise --grad-accum to keep the step size), lower --seq-len, or use --quantize nf4",
            ) from None
        raise
    finally:
        reporter.finish()
    finish_run("done", result.as_dict())
    return result


# -- setup ----------------------------------------------------------------------------------


def _on_cpu(config: TrainConfig) -> bool:
    """Whether accelerate should run on the CPU: asked, or `auto` without CUDA.

    Said explicitly: accelerate only sets up multi-process CPU training (DDP over gloo) when told
    `cpu`; otherwise each process of a `torchrun` launch would train alone, all writing.
    """
    import torch

    return config.model.device == "cpu" or (config.model.device == "auto" and not torch.cuda.is_available())


def _is_main_process(config: TrainConfig, reporter: Reporter) -> bool:
    """False in all but one of the processes a launcher starts: the others write and report nothing."""
    import os

    from accelerate import PartialState

    state = PartialState(cpu=_on_cpu(config))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != state.num_processes:
        raise AdaptdocsError(f"the launcher started {launched} processes but accelerate sees {state.num_processes}",
                             "launch with accelerate launch --multi_gpu --num_processes N -m adaptdocs train, or torchrun")
    if launched == 1 and os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") and "MASTER_ADDR" in os.environ:
        reporter.log("One process: `accelerate launch --cpu` starts several only through mpirun. For DDP over CPU "
                     "cores: accelerate launch --multi_gpu --num_processes N -m adaptdocs train (no --cpu), or torchrun")
    return state.is_main_process


def _require_trainable(spec: str | None) -> None:
    from .models import BACKENDS, backend_of

    backend = backend_of(spec)[0]
    if not BACKENDS[backend].can_train:
        raise AdaptdocsError(f"--model {spec}: the {backend} backend cannot train (its weights are on the server)",
                             "train a local model with --model; a server can write the augmented examples (--teacher)")


@dataclass
class _Session:
    """Everything the loop and the cleanup need; `step` and the curve move as training goes."""

    config: TrainConfig
    training_set: TrainingSet
    out_dir: Path
    accelerator: object
    model: object  # the prepared PeftModel
    tokenizer: object
    info: object  # ModelInfo
    optimizer: object
    scheduler: object
    loader: object
    total_steps: int
    planned_steps: int  # steps of all epochs, before --max-steps
    inputs: dict  # the adapter's fingerprint (lineage.adapter_inputs)
    config_hash: str
    step: int = 0
    checkpointed_step: int = 0
    resumed_from_step: int | None = None
    train_tokens: int = 0
    train_seconds: float = 0.0
    loss_curve: list[list[float]] = field(default_factory=list)
    # [step, step restored, new peak lr] of each divergence undone (_train_loop)
    rollbacks: list[list[float]] = field(default_factory=list)

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / CHECKPOINT


def _setup(ws, config: TrainConfig, training_set: TrainingSet, inputs: dict, reporter: Reporter) -> _Session:
    use_offline_environment()  # accelerate and peft import transformers
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from .models import load_pretrained

    accelerator = Accelerator(cpu=_on_cpu(config))
    # One seed for the LoRA initialisation and dropout; the data order has its own generators.
    set_seed(config.seed)
    model, tokenizer, info = load_pretrained(
        config.model.model, quantize=config.model.quantize, device=config.model.device, reporter=reporter
    )
    if info.dtype in ("nf4", "int8"):
        # Norms and embeddings to fp32 for stable QLoRA; checkpointing only pays where memory is scarce (GPU).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=accelerator.device.type == "cuda")
    target = "all-linear" if config.target_modules == "all-linear" else config.target_modules.split(",")
    lora = LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=target, task_type="CAUSAL_LM"
    )
    try:
        model = get_peft_model(model, lora)
    except ValueError as e:
        raise AdaptdocsError(f"--target-modules {config.target_modules}: {e}", "use all-linear or names like q_proj,v_proj") from None
    model.train()
    use_training_attention(model, config.seq_len, accelerator.device.type)

    examples = tokenize_examples(tokenizer, training_set.texts, config.seq_len)
    rows = [r for epoch in range(config.epochs) for r in pack_examples([len(e) for e in examples], config.seq_len, config.seed + epoch)]
    rows_per_epoch = len(rows) / config.epochs
    # The last batch filled up with empty rows (no targets: the same gradient), so every step has
    # one shape and a compiled model is not compiled again for a short one.
    rows += [[] for _ in range(-len(rows) % config.batch_size)]
    loader = torch.utils.data.DataLoader(
        PackedRows(examples, rows, config.seq_len, tokenizer.pad_token_id or 0),
        batch_size=config.batch_size,
        shuffle=False,  # the order is already shuffled, per epoch, from seeded generators
        collate_fn=collate_rows,
        # Its own generator: a fresh iterator (as on resume) must not draw from the global RNG that dropout uses.
        generator=torch.Generator().manual_seed(config.seed),
    )
    # Fused: one kernel for all the adapter's tensors (on the CPU 19 vs 38 ms a step of Adam and clipping).
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.0,
                                  fused=accelerator.device.type in ("cpu", "cuda") or None)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    planned_steps = math.ceil(len(loader) / config.grad_accum)
    total_steps = min(planned_steps, config.max_steps or planned_steps)
    # Not prepared: accelerate would step it once per process; our step count is per process already.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule(total_steps))
    compiled = compile_layers(accelerator.unwrap_model(model), config.compile, info.dtype, accelerator.device.type, total_steps)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    reporter.log(
        f"Training {training_set.name} ({len(training_set.texts)} examples, split {training_set.split}, "
        f"{rows_per_epoch:.0f} packed rows of {config.seq_len} tokens an epoch) on {info.name} {info.dtype} "
        f"{accelerator.device}{' compiled' if compiled else ''}: {total_steps} steps, LoRA r={config.rank} on "
        f"{config.target_modules} ({trainable:,} trainable parameters), lr {config.lr:g}"
    )
    session = _Session(
        config=config,
        training_set=training_set,
        out_dir=ws.adapter_dir(config.data),
        accelerator=accelerator,
        model=model,
        tokenizer=tokenizer,
        info=info,
        optimizer=optimizer,
        scheduler=scheduler,
        loader=loader,
        total_steps=total_steps,
        planned_steps=planned_steps,
        inputs=inputs,
        config_hash=sha(inputs, accelerator.num_processes),
    )
    _resume(session, reporter)
    return session


def tokenize_examples(tokenizer, texts: list[str], seq_len: int) -> list[list[int]]:
    """Token ids of each `text + EOS` (with BOS where the tokenizer adds one), split into pieces of at most seq_len.

    Encoded exactly as evaluation encodes text, so training and scoring see the same tokens.
    """
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    examples = []
    for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]:
        ids = list(ids) + eos
        examples += [ids[i : i + seq_len] for i in range(0, len(ids), seq_len)]
    return examples


def pack_examples(lengths: list[int], seq_len: int, seed: int) -> list[list[int]]:
    """Example indices per row: a seeded shuffle, then first fit into rows of seq_len tokens.

    Args:
        lengths: token count of each example (each at most seq_len).
        seq_len: row length.
        seed: the shuffle's seed (the caller passes seed + epoch: a new order every epoch).
    """
    import torch

    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed)).tolist()
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(seq_len - lengths[i])
    return rows


class PackedRows:
    """A map-style dataset of packed rows: input ids, per-example position ids, labels."""

    def __init__(self, examples: list[list[int]], rows: list[list[int]], seq_len: int, pad_id: int):
        self.examples, self.rows, self.seq_len, self.pad_id = examples, rows, seq_len, pad_id

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        import torch

        ids, positions, labels = [], [], []
        for i in self.rows[index]:
            example = self.examples[i]
            ids += example
            positions += range(len(example))
            # The first token would be predicted from the previous example's end: not a real target.
            labels += [IGNORE] + example[1:]
        real = len(ids)
        pad = self.seq_len - real
        # Padding forms its own segment (positions from 0), so it is masked off from the examples too.
        ids += [self.pad_id] * pad
        positions += range(pad)
        labels += [IGNORE] * pad
        return {
            "input_ids": torch.tensor(ids),
            "position_ids": torch.tensor(positions),
            "labels": torch.tensor(labels),
            "real_tokens": torch.tensor(real),
        }


def collate_rows(rows: list[dict]) -> dict:
    import torch

    return {key: torch.stack([r[key] for r in rows]) for key in rows[0]}


def lr_schedule(total_steps: int):
    """Linear warm-up over the first ~5% of steps, then cosine decay to 10% of the peak rate."""
    warmup = max(1, round(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


# -- the training loop ----------------------------------------------------------------------


def _train_loop(s: _Session, reporter: Reporter) -> None:
    import torch

    config, accelerator = s.config, s.accelerator
    processes = accelerator.num_processes
    reporter.start(f"train {config.data}", s.total_steps)
    reporter.advance(s.step)
    batches = iter(accelerator.skip_first_batches(s.loader, s.step * config.grad_accum) if s.step else s.loader)
    started, tokens_here = time.perf_counter(), 0
    # The state to go back to when the loss diverges: taken where checkpoints are (and where a
    # resumed run starts), so a resumed run goes back exactly where an uninterrupted one would.
    good = _snapshot(s)
    while s.step < s.total_steps:
        micro_batches = [b for _, b in zip(range(config.grad_accum), batches)]
        # Normalise by the real targets of the whole step, so accumulation equals one big batch.
        targets = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro_batches)
        if processes > 1:
            # DDP averages the processes' gradients: divide by the global batch's targets over the
            # process count, so a step equals one process taking the whole global batch.
            targets = int(accelerator.reduce(torch.tensor(targets), reduction="sum")) / processes
        step_loss = 0.0
        for i, batch in enumerate(micro_batches):
            sync = i == len(micro_batches) - 1
            with nullcontext() if sync else accelerator.no_sync(s.model):
                with training_precision(s.model, s.info.dtype, accelerator.device.type):
                    loss = causal_lm_loss(s.model, batch) / max(targets, 1)
                accelerator.backward(loss)
            step_loss += loss.item()
            tokens_here += int(batch["real_tokens"].sum())
        accelerator.clip_grad_norm_(s.model.parameters(), 1.0)
        s.optimizer.step()
        s.scheduler.step()
        s.optimizer.zero_grad(set_to_none=True)
        s.step += 1
        if processes > 1:  # the global batch's loss, the same in every process
            step_loss = float(accelerator.reduce(torch.tensor(step_loss), reduction="mean"))
        elapsed = time.perf_counter() - started
        recent = sorted(loss for _, loss in s.loss_curve[-LOSS_WINDOW:])
        s.loss_curve.append([s.step, round(step_loss, 4)])
        median = recent[LOSS_WINDOW // 2] if len(recent) == LOSS_WINDOW else float("inf")
        if step_loss > max(SPIKE_FACTOR * median, median + SPIKE_NATS):
            # Adam at a high rate can run away (on the development corpus ft-local went from loss
            # 1.4 to 7.7 in four steps and stayed there). Go back to the last good state and halve
            # the rate; the steps between are not replayed, their rows are only skipped this epoch.
            _restore(s, good)
            s.scheduler.base_lrs = [lr / 2 for lr in s.scheduler.base_lrs]
            for group, base in zip(s.optimizer.param_groups, s.scheduler.base_lrs):  # the restored state's rate is stale
                group["lr"] = base * s.scheduler.lr_lambdas[0](s.scheduler.last_epoch)
            s.rollbacks.append([s.step, good["step"], s.scheduler.base_lrs[0]])
            reporter.log(f"train {config.data}: loss jumped to {step_loss:.2f} at step {s.step} (median of the last "
                         f"{LOSS_WINDOW}: {median:.2f}); back to step {good['step']}'s weights, "
                         f"peak lr halved to {s.scheduler.base_lrs[0]:g}")
        reporter.advance(1, f"loss {step_loss:.2f} · {tokens_here * processes / elapsed:.0f} tok/s")
        if s.step % config.checkpoint_every == 0 and s.step < s.total_steps:
            good = _snapshot(s)
            _save_checkpoint(s, good, tokens_here, elapsed)
    elapsed = time.perf_counter() - started
    s.train_tokens += int(accelerator.reduce(torch.tensor(tokens_here), reduction="sum"))
    s.train_seconds += elapsed
    reporter.finish()


def _snapshot(s: _Session) -> dict:
    """The adapter weights, optimizer state and step, copied in memory (~60 MB for r=16 on 135M)."""
    import copy

    model = s.accelerator.unwrap_model(s.model)
    return {"step": s.step, "adapter": {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad},
            "optimizer": copy.deepcopy(s.optimizer.state_dict())}


def _restore(s: _Session, snapshot: dict) -> None:
    """Put a snapshot's (or a checkpoint's) adapter weights and optimizer state back."""
    import copy

    import torch

    params = dict(s.accelerator.unwrap_model(s.model).named_parameters())
    with torch.no_grad():
        for name, value in snapshot["adapter"].items():
            params[name].copy_(value)
    s.optimizer.load_state_dict(copy.deepcopy(snapshot["optimizer"]))  # the snapshot may be restored again


def use_training_attention(model, seq_len: int, device_type: str) -> None:
    """Eager attention (plain matmuls) for short rows on the CPU.

    The CPU's fused sdpa kernel is slow backwards on short packed rows: 7 ms a layer for 4 × 128
    tokens, 20% of a LoRA step of SmolLM2-135M (eager: 499 vs sdpa 446 tokens/s in bf16; at 256 and
    512 tokens eager is still ahead, 540 vs 512 and 435 vs 426). Longer rows keep sdpa, whose memory
    does not grow with the square of the length. Both read the packing from the position ids alike
    (the same loss on a packed row, to 1e-6).
    """
    if device_type == "cpu" and seq_len <= EAGER_ATTENTION_MAX_SEQ_LEN and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")


def compile_layers(model, setting: str, dtype: str, device_type: str, steps: int) -> bool:
    """torch.compile the model's repeated decoder layers in place, one graph for them all (regional
    compilation, accelerate's `compile_regions_deepspeed`: in place, so the adapter's parameter
    names do not change), and each other leaf module on its own. Whether it was compiled.

    On the CPU the eager step spends most of its time outside the matmuls (norms, rotary, SiLU,
    the casts around the adapter's matmuls): fused, LoRA training of SmolLM2-135M in bf16 on the
    Xeon with AMX went from ~500 to ~750–825 tokens/s, after a first compile of ~30 s (cached on
    disk: ~4 s in later runs). auto leaves GPUs (not measured here), quantized models and short
    runs eager. A machine without a C++ compiler trains eagerly (dynamo falls back on errors).
    """
    auto = device_type == "cpu" and dtype in ("bf16", "fp32") and steps >= COMPILE_MIN_STEPS
    if setting == "off" or (setting == "auto" and not auto):
        return False
    import torch
    from accelerate.utils import compile_regions_deepspeed

    torch._dynamo.config.suppress_errors = True
    compile_regions_deepspeed(model)
    return True


def training_precision(model, dtype: str, device_type: str):
    """The forward pass's precision: on a bf16 model, the LoRA matmuls run in bf16 too.

    peft keeps the adapter weights in fp32 (Adam's small late updates would round away in bf16)
    and casts each layer's input up to fp32 for them: 210 casts and fp32 matmuls a forward pass on
    SmolLM2-135M. Under autocast the adapter's matmuls take bf16 copies of its weights and the
    input stays bf16; the weights and their gradients stay fp32. LoRA training here: 356 → 446
    tokens/s with bf16 adapter weights, 590 with this (both with eager attention and kept memory).
    """
    return _bf16_forward(model, device_type) if dtype == "bf16" else nullcontext()


@contextmanager
def _bf16_forward(model, device_type: str):
    import torch
    from peft.helpers import disable_input_dtype_casting

    with torch.autocast(device_type, dtype=torch.bfloat16), disable_input_dtype_casting(model):
        yield


def causal_lm_loss(model, batch: dict):
    """Summed next-token cross-entropy over the real targets of a packed batch (fp32 logits)."""
    import torch.nn.functional as F

    # No attention mask and no cache: transformers reads the packing from the position ids.
    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    return F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(), ignore_index=IGNORE, reduction="sum"
    )


def _is_out_of_memory(e: BaseException) -> bool:
    import torch

    message = str(e).lower()
    return isinstance(e, torch.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)
    )


# -- checkpoints ----------------------------------------------------------------------------


def _save_checkpoint(s: _Session, snapshot: dict, tokens_here: int, elapsed: float) -> None:
    """The snapshot (adapter weights, optimizer) with the scheduler, step, RNG states and totals,
    written to a temp dir then renamed."""
    import torch

    accelerator = s.accelerator
    if accelerator.is_main_process:
        state = {
            "adapter": snapshot["adapter"],
            "optimizer": snapshot["optimizer"],
            "scheduler": s.scheduler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "python": random.getstate(),
            },
        }
        meta = {
            "config_hash": s.config_hash,
            "step": s.step,
            "train_tokens": s.train_tokens + tokens_here * accelerator.num_processes,
            "train_seconds": s.train_seconds + elapsed,
            "loss_curve": s.loss_curve,
            "rollbacks": s.rollbacks,
        }
        s.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir(s.out_dir, f"{CHECKPOINT}.tmp-")
        torch.save(state, tmp / "state.pt")
        (tmp / "meta.json").write_text(json.dumps(meta))
        replace_dir(tmp, s.checkpoint_dir)
    accelerator.wait_for_everyone()
    s.checkpointed_step = s.step


def _resume(s: _Session, reporter: Reporter) -> None:
    """Continue from the checkpoint in the adapter directory if it belongs to this exact run."""
    import torch

    path = s.checkpoint_dir
    if not (path / "meta.json").is_file():
        path = path.with_name(CHECKPOINT + ".old")  # a kill between the two renames of _replace_dir
    if not (path / "meta.json").is_file():
        return
    meta = json.loads((path / "meta.json").read_text())
    if meta["config_hash"] != s.config_hash:
        reporter.log(f"Ignoring the checkpoint in {path}: it is from another training set or other settings.")
        return
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    _restore(s, state)
    s.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    random.setstate(state["rng"]["python"])
    s.step = s.checkpointed_step = s.resumed_from_step = meta["step"]
    s.train_tokens, s.train_seconds, s.loss_curve = meta["train_tokens"], meta["train_seconds"], meta["loss_curve"]
    s.rollbacks = meta.get("rollbacks", [])
    reporter.log(f"Resuming from the checkpoint at step {s.step} of {s.total_steps}.")


# -- cleanup: the adapter directory ---------------------------------------------------------


def _save_adapter(s: _Session) -> TrainResult:
    config, accelerator = s.config, s.accelerator
    final_loss = s.loss_curve[-1][1] if s.loss_curve else None
    record = {
        "adaptdocs_version": __version__,
        "inputs": s.inputs,
        "training_set": {
            "name": s.training_set.name,
            "sha256": s.training_set.sha256,
            "split": s.training_set.split,
            "examples": len(s.training_set.rows),
            "composition": s.training_set.composition(),
            "documents": s.training_set.document_ids(),
        },
        "model": s.info.name,
        "request": {"model": config.model.model, "quantize": config.model.quantize, "device": config.model.device},
        "hyperparameters": config.hyperparameters(),
        "seed": config.seed,
        "steps": s.step,
        "epochs": round(config.epochs * s.step / s.planned_steps, 3),
        "train_tokens": s.train_tokens,
        "train_seconds": round(s.train_seconds, 2),
        "final_loss": final_loss,
        "loss_curve": s.loss_curve,
        "rollbacks": s.rollbacks,
        "quantize": s.info.dtype,
        "device": str(accelerator.device),
        "processes": accelerator.num_processes,
    }
    if accelerator.is_main_process:
        s.out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir(s.out_dir.parent, f".{config.data}.tmp-")
        accelerator.unwrap_model(s.model).save_pretrained(tmp)
        (tmp / "adaptdocs.json").write_text(json.dumps(record, sort_keys=True, indent=2))
        export_training_set(s.training_set, tmp / TRAINING_ROWS)
        plot_loss(s.loss_curve, tmp / "loss.png", f"{config.data}: {s.info.name}")
        # Replacing the directory also drops the finished run's checkpoint.
        replace_dir(tmp, s.out_dir)
    accelerator.wait_for_everyone()
    return _result_from_record(config.data, s.out_dir, record, skipped=False, resumed_from_step=s.resumed_from_step)


def _result_from_record(data: str, out_dir: Path, record: dict, *, skipped: bool, resumed_from_step=None) -> TrainResult:
    return TrainResult(
        data=data,
        adapter_dir=out_dir,
        skipped=skipped,
        steps=record["steps"],
        epochs=record["epochs"],
        train_tokens=record["train_tokens"],
        train_seconds=record["train_seconds"],
        final_loss=record["final_loss"],
        resumed_from_step=resumed_from_step,
        loss_curve=record["loss_curve"],
    )


def plot_loss(curve: list[list[float]], path: Path, title: str) -> None:
    """The loss per optimizer step as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([c[0] for c in curve], [c[1] for c in curve])
    ax.set_xlabel("step")
    ax.set_ylabel("loss (per target token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
