"""Benchmark the model layer with the default model on this machine.

Measures (writes benchmarks/results/models.json and prints a table):
- batched vs one-at-a-time greedy generation (16 prompts x 48 new tokens; target >= 3x);
- shared-prefix scoring vs re-encoding the prefix for every choice (2,000-token prefix,
  64 questions x 4 choices; target >= 10x, and both must pick the same choices): timed in bf16;
  the choices compared in bf16 (rounding differs between the two ways, so near ties may flip)
  and, on the first 16 questions, in fp32 (where the two ways must agree);
- forward tokens/s and resident memory for fp32, bf16, int8, nf4 (each in its own process,
  so one precision's freed memory does not hide the next one's).

Usage: python benchmarks/bench_models.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "models.json"
FULL = {"prompts": 16, "new_tokens": 48, "prefix_tokens": 2000, "questions": 64, "batch": 32, "forward_tokens": 64,
        "fp32_questions": 16}
QUICK = {"prompts": 4, "new_tokens": 8, "prefix_tokens": 200, "questions": 4, "batch": 4, "forward_tokens": 16,
         "fp32_questions": 2}
NAMES = ["Kotrizo", "Mubadra", "Trimbelo", "Fenwick", "Plosk", "Osk", "Lagle", "Krelvash", "Dunmoor", "Ispaneth",
         "Velstra", "Karnok", "Brisel", "Tarnow", "Quillon", "Sendra", "Hobran", "Marta", "Zelvo", "Pruneth"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def facts(rng: random.Random, n: int) -> list[tuple[str, str]]:
    return [(f"{rng.choice(NAMES)}{rng.choice(NAMES).lower()}", rng.choice(NAMES)) for _ in range(n)]


def bench_generation(model, sizes: dict) -> dict:
    rng = random.Random(0)
    prompts = [
        f"Fact: The {tool} tool is owned by the {team} team.\nReversed: The {team} team owns the {tool} tool.\n"
        f"Fact: The {b} tool is owned by the {a} team.\nReversed:"
        for (tool, team), (b, a) in zip(facts(rng, sizes["prompts"]), facts(rng, sizes["prompts"]))
    ]
    n = sizes["new_tokens"]
    model.generate(prompts[:1], max_new_tokens=2)  # warm-up
    batched, batched_usage = model.generate(prompts, max_new_tokens=n, batch_size=len(prompts))
    single_usage = None
    single = []
    for p in prompts:
        texts, usage = model.generate([p], max_new_tokens=n, batch_size=1)
        single += texts
        single_usage = usage if single_usage is None else single_usage + usage
    batched_tps = batched_usage.generated_tokens / batched_usage.seconds
    single_tps = single_usage.generated_tokens / single_usage.seconds
    return {
        "prompts": len(prompts),
        "new_tokens": n,
        "batched_tokens_per_s": round(batched_tps, 1),
        "one_at_a_time_tokens_per_s": round(single_tps, 1),
        "ratio": round(batched_tps / single_tps, 2),
        "target_ratio": 3.0,
        "same_texts": batched == single,
    }


def bench_prefix_scoring(model, sizes: dict) -> dict:
    from adaptdocs.models import HFModel, choice_scores

    rng = random.Random(1)
    corpus, prefix = [], ""
    while model.count_tokens(prefix) < sizes["prefix_tokens"]:
        corpus += facts(rng, 10)
        prefix = "".join(f"The {tool} tool is owned by the {team} team.\n" for tool, team in corpus) + "\n"
    requests, choices = [], []
    for tool, team in rng.sample(corpus, min(sizes["questions"], len(corpus))):
        options = [team] + rng.sample([n for n in NAMES if n != team], 3)
        choices.append(options)
        requests += [(f"Q: Which team owns the {tool} tool?\nA:", f" {o}") for o in options]
    def both_ways(m, reqs):
        reencode = HFModel(m.model, m.tokenizer, m.info, reuse_prefix=False)
        m.forget_prefix()
        fast = m.loglikelihood(reqs, prefix=prefix, batch_size=sizes["batch"])
        return fast, reencode.loglikelihood(reqs, prefix=prefix, batch_size=sizes["batch"])

    (fast, fast_usage), (slow, slow_usage) = both_ways(model, requests)
    def picks(scores: list[float]) -> list[int]:
        return [choice_scores(scores[4 * i : 4 * i + 4], c)[0] for i, c in enumerate(choices[: len(scores) // 4])]

    # bf16 rounds differently when the prefix is encoded apart from the question, so near ties can
    # flip; fp32 shows whether the two ways compute the same thing.
    from adaptdocs.models import load_model

    n32 = sizes["fp32_questions"]
    (fast32, _), (slow32, _) = both_ways(load_model(quantize="fp32"), requests[: 4 * n32])
    return {
        "prefix_tokens": model.count_tokens(prefix),
        "questions": len(choices),
        "choices": len(requests),
        "shared_prefix_seconds": round(fast_usage.seconds, 2),
        "reencode_seconds": round(slow_usage.seconds, 2),
        "ratio": round(slow_usage.seconds / fast_usage.seconds, 2),
        "target_ratio": 10.0,
        "shared_prefix_tokens_encoded": fast_usage.prompt_tokens,
        "reencode_tokens_encoded": slow_usage.prompt_tokens,
        "same_choices": picks(fast) == picks(slow),
        "different_choices": sum(a != b for a, b in zip(picks(fast), picks(slow))),
        "max_abs_logprob_diff": round(max(abs(a - b) for a, b in zip(fast, slow)), 4),
        "fp32_questions": n32,
        "fp32_same_choices": picks(fast32) == picks(slow32),
        "fp32_max_abs_logprob_diff": round(max(abs(a - b) for a, b in zip(fast32, slow32)), 6),
    }


def forward_child(quantize: str, sizes: dict, threads: int) -> dict:
    """Runs in its own process: load at one precision, time forward passes, report RSS growth."""
    import torch

    torch.set_num_threads(threads)
    from adaptdocs.models import load_pretrained

    before = rss_mb()
    start = time.perf_counter()
    model, tokenizer, info = load_pretrained(quantize=quantize, device="cpu")
    load_seconds = time.perf_counter() - start
    batch, length = sizes["batch"], sizes["forward_tokens"]
    ids = torch.randint(100, 40000, (batch, length))
    with torch.inference_mode():
        model(ids[:1, :8])  # warm-up
        start = time.perf_counter()
        repeats = 2
        for _ in range(repeats):
            model(ids, logits_to_keep=1)
        seconds = time.perf_counter() - start
    return {
        "quantize": info.dtype,
        "load_seconds": round(load_seconds, 2),
        "forward_tokens_per_s": round(repeats * batch * length / seconds, 1),
        "rss_delta_mb": round(rss_mb() - before, 1),
        "weights_mb": round(model.get_memory_footprint() / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the benchmark runs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads [default: torch's choice]")
    parser.add_argument("--forward-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.forward_child:
        print(json.dumps(forward_child(args.forward_child, sizes, args.threads or 1)))
        return

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from adaptdocs.models import load_model

    model = load_model()
    results = {"model": model.info.name, "dtype": model.info.dtype, "threads": torch.get_num_threads(), "quick": args.quick}
    results["generation"] = bench_generation(model, sizes)
    results["prefix_scoring"] = bench_prefix_scoring(model, sizes)
    results["forward"] = []
    for quantize in ("fp32", "bf16", "int8", "nf4"):
        command = [sys.executable, __file__, "--forward-child", quantize, "--threads", str(torch.get_num_threads())]
        if args.quick:
            command.append("--quick")
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results["forward"].append(json.loads(done.stdout.strip().splitlines()[-1]))

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    g, p = results["generation"], results["prefix_scoring"]
    print(f"model {results['model']} ({results['dtype']}, {results['threads']} threads){' [quick]' if args.quick else ''}")
    print(f"{'measure':44} {'value':>12}")
    print(f"{'generation batched tokens/s':44} {g['batched_tokens_per_s']:>12}")
    print(f"{'generation one-at-a-time tokens/s':44} {g['one_at_a_time_tokens_per_s']:>12}")
    print(f"{'generation ratio (target >= 3)':44} {g['ratio']:>12}")
    print(f"{'scoring shared prefix seconds':44} {p['shared_prefix_seconds']:>12}")
    print(f"{'scoring re-encoded prefix seconds':44} {p['reencode_seconds']:>12}")
    print(f"{'scoring ratio (target >= 10)':44} {p['ratio']:>12}")
    print(f"{'scoring same choices picked (bf16)':44} {str(p['same_choices']):>12}")
    print(f"{'  choices that differ | max logprob diff':44} {p['different_choices']:>8} | {p['max_abs_logprob_diff']}")
    print(f"{'  fp32, first questions: same | max diff':44} {str(p['fp32_same_choices']):>8} | "
          f"{p['fp32_max_abs_logprob_diff']} ({p['fp32_questions']} questions)")
    for f in results["forward"]:
        label = f"forward {f['quantize']} tokens/s | RSS MB | weights MB"
        print(f"{label:44} {f['forward_tokens_per_s']:>8} | {f['rss_delta_mb']} | {f['weights_mb']}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
