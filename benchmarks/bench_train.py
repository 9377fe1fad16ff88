"""Training throughput: adaptdocs' loop now vs its earlier settings vs a naive loop, in one run.

adaptdocs_now: TrainConfig's defaults and the training path of adaptdocs.train: packed rows, the
  precision `auto` picks here, eager attention for short rows, the adapter's matmuls in bf16 on a
  bf16 model (training_precision), freed memory kept by the allocator (keep_freed_memory), the
  decoder layers compiled (compile_layers, what `--compile auto` does for a run of 50+ steps);
adaptdocs_eager: the same, not compiled (the last release);
adaptdocs_before: the settings the speed issue was filed against: bf16, one row a step;
naive: every batch padded to seq_len, fp32.

Each runs in its own process (the allocator setting is process-wide). All train the same LoRA
(r=16, all linear layers) of the same model on the same examples: the sentences of a workspace's
plain training set if `--workspace` is given, else synthetic facts.
Tokens/s counts real tokens only (no padding). Model FLOPs utilisation (MFU) is against this
machine's matrix-product peak in the run's dtype, measured here (2048³ matmul), and against the
bf16 peak. LoRA training does a forward pass (2N FLOPs a token) and the input-gradient half of the backward pass (2N), but no
weight gradients for the frozen base: 4N a token is the LoRA-appropriate count; 6N (the usual
full fine-tuning count) is reported beside it.

    python benchmarks/bench_train.py --quick               # synthetic facts, a few steps
    python benchmarks/bench_train.py -w ./.adaptdocs        # the workspace's sentences, more steps
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train.json"
TEAMS = ["Mubadra", "Trimbelo", "Quessary", "Dolvane", "Zarnoth", "Korbulo", "Fenwick", "Osk"]
SYLLABLES = ["kro", "vel", "tam", "plo", "sne", "gu", "mir", "zan", "bri", "dow", "lag", "que"]


def synthetic_facts(n: int) -> list[str]:
    rng = random.Random(0)
    tools = ["".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize() for _ in range(n)]
    forms = ["The {t} tool is owned by the {team} team.", "The {t} service runs on the {team} cluster every night.",
             "Questions about {t} go to the {team} team, which also keeps its runbook up to date."]
    return [rng.choice(forms).format(t=t, team=rng.choice(TEAMS)) for t in tools]


def workspace_texts(path: str) -> list[str]:
    from adaptdocs import Workspace
    from adaptdocs.training_data import build_training_set

    return build_training_set(Workspace(path), "plain").texts


def matmul_peak_gflops(dtype: str, size: int = 2048, repeats: int = 10) -> float:
    """This machine's matrix-product rate in `dtype` (bf16 or fp32): a size³ matmul, timed."""
    import torch

    dt = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    a, b = torch.randn(size, size, dtype=dt), torch.randn(size, size, dtype=dt)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def lora_model(spec, quantize: str, training_path: bool, seq_len: int, compiled: bool = False):
    from peft import LoraConfig, get_peft_model

    from adaptdocs.models import load_pretrained, loading
    from adaptdocs.train import compile_layers, use_training_attention

    if not training_path:
        loading.keep_freed_memory = lambda: None  # this process keeps the system allocator's behaviour
    model, tokenizer, info = load_pretrained(spec, quantize=quantize, device="cpu")
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    if training_path:
        use_training_attention(model, seq_len, "cpu")
    if compiled:
        compile_layers(model, "on", info.dtype, "cpu", steps=0)
    return model, tokenizer, info


def timed_steps(model, batches, step_fn, warmup: int) -> tuple[float, int, float]:
    """Seconds and real tokens of the batches after the warm-up ones, and the first step's seconds
    (where a compiled model pays its compile)."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    seconds, tokens, first = 0.0, 0, 0.0
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        loss, real = step_fn(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i == 0:
            first = time.perf_counter() - start
        if i >= warmup:
            seconds += time.perf_counter() - start
            tokens += real
    return seconds, tokens, first


def packed_batches(tokenizer, texts, seq_len: int, batch_size: int, n: int):
    from adaptdocs.train import PackedRows, collate_rows, pack_examples, tokenize_examples

    examples = tokenize_examples(tokenizer, texts, seq_len)
    rows = [r for epoch in range(100) for r in pack_examples([len(e) for e in examples], seq_len, epoch)][: n * batch_size]
    dataset = PackedRows(examples, rows, seq_len, tokenizer.pad_token_id or 0)
    return [collate_rows([dataset[j] for j in range(i, i + batch_size)]) for i in range(0, len(rows), batch_size)]


def packed_step(model, batch):
    from adaptdocs.train import IGNORE, causal_lm_loss

    targets = int((batch["labels"][:, 1:] != IGNORE).sum())
    return causal_lm_loss(model, batch) / targets, int(batch["real_tokens"].sum())


def training_path_step(dtype: str):
    """packed_step inside adaptdocs.train's forward-pass precision."""
    from adaptdocs.train import training_precision

    def step(model, batch):
        with training_precision(model, dtype, "cpu"):
            return packed_step(model, batch)

    return step


def padded_batches(tokenizer, texts, seq_len: int, batch_size: int, n: int):
    rng = random.Random(0)
    batches = []
    while len(batches) < n:
        chosen = rng.sample(texts, batch_size)
        enc = tokenizer([t + tokenizer.eos_token for t in chosen], padding="max_length", truncation=True,
                        max_length=seq_len, return_tensors="pt")
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        batches.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels})
    return batches


def padded_step(model, batch):
    return model(**batch).loss, int(batch["attention_mask"].sum())


# name: (quantize, rows a step or None for TrainConfig's, packed rows?, adaptdocs.train's training path?, compiled?)
RUNS = {
    "adaptdocs_before": ("bf16", 1, True, False, False),
    "adaptdocs_eager": (None, None, True, True, False),
    "adaptdocs_now": (None, None, True, True, True),
    "naive_padded_fp32": ("fp32", "naive", False, False, False),
}


def run_one(name: str, args, steps: int, warmup: int) -> dict:
    """One setting's throughput, in this process."""
    import torch

    from adaptdocs.config import TrainConfig

    quantize, batch_size, packed, training_path, compiled = RUNS[name]
    defaults = TrainConfig()
    quantize = quantize or defaults.model.quantize  # "auto": loading decides
    batch_size = args.naive_batch_size if batch_size == "naive" else batch_size or defaults.batch_size
    texts = workspace_texts(args.workspace) if args.workspace else synthetic_facts(300)
    torch.manual_seed(0)
    model, tokenizer, info = lora_model(args.model, quantize, training_path, args.seq_len, compiled)
    make = packed_batches if packed else padded_batches
    step = (training_path_step(info.dtype) if training_path else packed_step) if packed else padded_step
    seconds, tokens, first = timed_steps(model, make(tokenizer, texts, args.seq_len, batch_size, steps + warmup), step, warmup)
    return {"dtype": info.dtype, "batch_size": batch_size, "tokens_per_second": round(tokens / seconds, 1),
            "first_step_seconds": round(first, 1),
            "real_tokens": tokens, "seconds": round(seconds, 2), "model": info.name, "parameters": info.parameters,
            "examples": len(texts), "torch_threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", "-w", help="use this workspace's plain training set (else synthetic facts)")
    parser.add_argument("--model", default=None, help="model spec (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--seq-len", type=int, default=128, help="row length (packed) and padded length (naive)")
    parser.add_argument("--naive-batch-size", type=int, default=8, help="examples per step (naive)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="3 timed steps each (a check that it runs)")
    parser.add_argument("--only", choices=sorted(RUNS), help=argparse.SUPPRESS)  # one run, in a child process
    args = parser.parse_args()
    # Three warm-up steps: the first compiles (a compiled run), the next two allocate Adam's state and settle.
    steps, warmup = (3, 1) if args.quick else (args.steps, 3)
    if args.only:
        print(json.dumps(run_one(args.only, args, steps, warmup)))
        return

    peaks = {dtype: matmul_peak_gflops(dtype, repeats=3 if args.quick else 10) for dtype in ("bf16", "fp32")}
    results = {}
    for name in RUNS:
        child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], capture_output=True, text=True)
        if child.returncode:
            sys.exit(f"{name} failed:\n{child.stderr[-3000:]}")
        run = json.loads(child.stdout.strip().splitlines()[-1])
        params, tps, dtype = run.pop("parameters"), run["tokens_per_second"], run["dtype"]
        model, examples, threads = run.pop("model"), run.pop("examples"), run.pop("torch_threads")
        # Against the peak of the dtype it runs in, and against the bf16 peak the issue names.
        run["mfu_lora_4n"] = round(4 * params * tps / (peaks[dtype] * 1e9), 4)
        run["mfu_lora_4n_of_bf16_peak"] = round(4 * params * tps / (peaks["bf16"] * 1e9), 4)
        run["mfu_6n"] = round(6 * params * tps / (peaks[dtype] * 1e9), 4)
        results[name] = run
        print(name, run, flush=True)
    tps = {name: r["tokens_per_second"] for name, r in results.items()}
    report = {
        "model": model,
        "parameters": params,
        "data": f"workspace {args.workspace}" if args.workspace else "300 synthetic fact sentences",
        "examples": examples,
        "seq_len": args.seq_len,
        "timed_steps": steps,
        "torch_threads": threads,
        "matmul_peak_gflops": {k: round(v, 1) for k, v in peaks.items()},
        "flops_per_token": "mfu_lora_4n: 4N (forward 2N + input gradients 2N; frozen weights get no gradient); mfu_6n: 6N",
        "results": results,
        "speedup_vs_before": round(tps["adaptdocs_now"] / tps["adaptdocs_before"], 2),
        "speedup_vs_eager": round(tps["adaptdocs_now"] / tps["adaptdocs_eager"], 2),
        "speedup_vs_naive": round(tps["adaptdocs_now"] / tps["naive_padded_fp32"], 2),
        "quick": args.quick,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"now vs before {report['speedup_vs_before']:.2f}x (target >= 2.5x); now vs eager "
          f"{report['speedup_vs_eager']:.2f}x (first step {results['adaptdocs_now']['first_step_seconds']} vs "
          f"{results['adaptdocs_eager']['first_step_seconds']} s: the compile, cached on disk after the first run); now vs naive {report['speedup_vs_naive']:.2f}x; MFU now "
          f"{results['adaptdocs_now']['mfu_lora_4n_of_bf16_peak']:.0%} of the bf16 peak; peaks bf16 {peaks['bf16']:.0f}, "
          f"fp32 {peaks['fp32']:.0f} GFLOP/s; written {RESULTS}")


if __name__ == "__main__":
    main()
