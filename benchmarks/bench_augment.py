"""Augmentation speed: the corpus prefix reused vs re-encoded, and local prompts batched vs one at a time.

Global prompts run three ways: the prefix read by all rows through the shared-prefix attention
(models/shared_prefix.py), the prefix's cache copied into every row (the previous path), and the
whole corpus re-encoded for every prompt (no reuse).

The prompts are the exact ones `adaptdocs augment` would send (its dry run), on the sample corpus.

    python benchmarks/bench_augment.py            # full: 32 global prompts, ~32 local prompts
    python benchmarks/bench_augment.py --quick    # 4 global prompts, ~4 local prompts, short generations
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _workspace(path: str | None):
    from adaptdocs.workspace import Workspace

    if path:
        return Workspace(path)
    from adaptdocs.config import IngestConfig
    from adaptdocs.ingest import ingest_paths

    ws = Workspace(Path(tempfile.mkdtemp(prefix="bench-augment-")))
    ingest_paths(ws, [ROOT / "sample_corpus" / "docs"], IngestConfig())
    return ws


def _timed(model, prompts, **kw):
    start = time.perf_counter()
    _, usage = model.generate(prompts, **kw)
    return time.perf_counter() - start, usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few documents and prompts: checks the script works")
    parser.add_argument("-w", "--workspace", help="an ingested workspace [default: ingest sample_corpus/docs]")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    import torch

    from adaptdocs.augment import augment
    from adaptdocs.config import AugmentConfig
    from adaptdocs.models import load_model

    ws = _workspace(args.workspace)
    model = load_model(args.model)
    # Local items are sentence × template; the benchmark times the first template's prompts.
    n_global, n_local, max_new = (4, 12, 24) if args.quick else (32, 96, None)
    results = {"model": model.info.name, "device": model.info.device, "dtype": model.info.dtype,
               "threads": torch.get_num_threads(), "quick": args.quick}

    dry = augment(ws, AugmentConfig(strategy="global", dry_run=True), model=model).prompts[:n_global]
    max_new_global = max_new or 48
    prefix = dry[0].prefix
    same_window = [p.prompt for p in dry if p.prefix == prefix]
    model.forget_prefix()
    reused, u1 = _timed(model, same_window, prefix=prefix, max_new_tokens=max_new_global, batch_size=len(same_window))
    # The previous path: the prefix's keys/values copied into every row's cache.
    model.shared_prefix, shared = False, model.shared_prefix
    model.forget_prefix()
    copied, _ = _timed(model, same_window, prefix=prefix, max_new_tokens=max_new_global, batch_size=len(same_window))
    model.shared_prefix = shared
    encoded = 0.0
    for prompt in same_window:  # without prefix reuse: the whole corpus encoded again for every prompt
        seconds, _ = _timed(model, [prefix + prompt], max_new_tokens=max_new_global)
        encoded += seconds
    results["global"] = {
        "prompts": len(same_window), "prefix_tokens": dry[0].prefix_tokens,
        "shared_prefix_attention": shared, "reused_seconds": round(reused, 2),
        "copied_prefix_seconds": round(copied, 2), "reencoded_seconds": round(encoded, 2),
        "ratio": round(encoded / reused, 2), "ratio_copied_prefix": round(encoded / copied, 2),
        "reused_usage": u1.as_dict(),
    }

    local = augment(ws, AugmentConfig(strategy="local", dry_run=True, limit=n_local), model=model).prompts
    by_prefix = [p for p in local if p.prefix == local[0].prefix]
    prompts = [p.prompt for p in by_prefix]
    kw = {"prefix": by_prefix[0].prefix, "max_new_tokens": max_new or 48, "stop": ["\n"]}
    batched, usage_batched = _timed(model, prompts, batch_size=16, **kw)
    single = 0.0
    for prompt in prompts:
        seconds, _ = _timed(model, [prompt], batch_size=1, **kw)
        single += seconds
    results["local"] = {
        "prompts": len(prompts), "batched_seconds": round(batched, 2), "one_at_a_time_seconds": round(single, 2),
        "ratio": round(single / batched, 2), "batched_prompts_per_second": round(len(prompts) / batched, 2),
        "batched_generated_tokens_per_second": round(usage_batched.generated_tokens / batched, 1),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
