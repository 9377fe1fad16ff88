"""Training throughput: adaptdocs' loop (packed rows, bf16) vs a naive loop (every batch padded to seq_len, fp32).

Both train the same LoRA (r=16, all linear layers) of the same model on the same examples: the
sentences of a workspace's plain training set if `--workspace` is given, else synthetic facts.
Tokens/s counts real tokens only (no padding). Model FLOPs utilisation (MFU) is against this
machine's bf16 matrix-product peak, measured here (2048³ bf16 matmul). LoRA training does a
forward pass (2N FLOPs a token) and the input-gradient half of the backward pass (2N), but no
weight gradients for the frozen base: 4N a token is the LoRA-appropriate count; 6N (the usual
full fine-tuning count) is reported beside it.

    python benchmarks/bench_train.py --quick               # synthetic facts, a few steps
    python benchmarks/bench_train.py -w ./.adaptdocs        # the workspace's sentences, more steps
"""

from __future__ import annotations

import argparse
import json
import random
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


def bf16_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    import torch

    a, b = torch.randn(size, size, dtype=torch.bfloat16), torch.randn(size, size, dtype=torch.bfloat16)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def lora_model(spec, quantize: str):
    from peft import LoraConfig, get_peft_model

    from adaptdocs.models import load_pretrained

    model, tokenizer, info = load_pretrained(spec, quantize=quantize, device="cpu")
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    return model, tokenizer, info


def timed_steps(model, batches, step_fn, warmup: int) -> tuple[float, int]:
    """Seconds and real tokens of the batches after the warm-up ones."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    seconds, tokens = 0.0, 0
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        loss, real = step_fn(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            seconds += time.perf_counter() - start
            tokens += real
    return seconds, tokens


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", "-w", help="use this workspace's plain training set (else synthetic facts)")
    parser.add_argument("--model", default=None, help="model spec (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--seq-len", type=int, default=128, help="row length (packed) and padded length (naive)")
    parser.add_argument("--batch-size", type=int, default=4, help="packed rows per step (adaptdocs)")
    parser.add_argument("--naive-batch-size", type=int, default=8, help="examples per step (naive)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="3 timed steps each (a check that it runs)")
    args = parser.parse_args()
    steps, warmup = (3, 1) if args.quick else (args.steps, 2)

    import torch

    texts = workspace_texts(args.workspace) if args.workspace else synthetic_facts(300)
    peak = bf16_peak_gflops(repeats=3 if args.quick else 10)
    results = {}
    for name, quantize, make, step in (
        ("adaptdocs_packed_bf16", "bf16", lambda tok: packed_batches(tok, texts, args.seq_len, args.batch_size, steps + warmup), packed_step),
        ("naive_padded_fp32", "fp32", lambda tok: padded_batches(tok, texts, args.seq_len, args.naive_batch_size, steps + warmup), padded_step),
    ):
        torch.manual_seed(0)
        model, tokenizer, info = lora_model(args.model, quantize)
        seconds, tokens = timed_steps(model, make(tokenizer), step, warmup)
        params = info.parameters
        tps = tokens / seconds
        results[name] = {
            "tokens_per_second": round(tps, 1),
            "real_tokens": tokens,
            "seconds": round(seconds, 2),
            "mfu_lora_4n": round(4 * params * tps / (peak * 1e9), 4),
            "mfu_6n": round(6 * params * tps / (peak * 1e9), 4),
        }
        print(name, results[name], flush=True)
        del model
    ratio = results["adaptdocs_packed_bf16"]["tokens_per_second"] / results["naive_padded_fp32"]["tokens_per_second"]
    report = {
        "model": info.name,
        "parameters": params,
        "data": f"workspace {args.workspace}" if args.workspace else "300 synthetic fact sentences",
        "examples": len(texts),
        "seq_len": args.seq_len,
        "batch_size": {"adaptdocs": args.batch_size, "naive": args.naive_batch_size},
        "timed_steps": steps,
        "torch_threads": torch.get_num_threads(),
        "bf16_matmul_peak_gflops": round(peak, 1),
        "flops_per_token": "mfu_lora_4n: 4N (forward 2N + input gradients 2N; frozen weights get no gradient); mfu_6n: 6N",
        "results": results,
        "speedup": round(ratio, 2),
        "quick": args.quick,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"speedup {ratio:.2f}x (target >= 2x); peak bf16 {peak:.0f} GFLOP/s; written {RESULTS}")


if __name__ == "__main__":
    main()
