"""Benchmark of the compare stage.

Default: the icl condition on sample_corpus/ with the default model, scoring the same subset of
questions: the corpus encoded once and read by every row through the shared-prefix attention
(what adaptdocs does), the corpus cache copied into every row (the previous path), and the naive
way, the corpus re-encoded in front of every choice; and the same questions without the corpus,
which is what a fine-tuned adapter costs a query (scoring merges it). Prints seconds and ratios.

--docs: the corpus folders (several are one corpus): the target is stated for a corpus of at
least 3k tokens, and sample_corpus/ has about 2.1k; with the development corpus beside it, about 4.6k.

--demo-timing: each stage of the demo pipeline (ingest, augment, train ×4, compare) in a fresh
workspace, with the wall time of each.

    .venv/bin/python benchmarks/bench_compare.py --quick
    .venv/bin/python benchmarks/bench_compare.py --docs sample_corpus/docs benchmarks/corpora/ondravel/docs
    .venv/bin/python benchmarks/bench_compare.py --demo-timing --quick
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "sample_corpus" / "docs"
QUESTIONS = ROOT / "sample_corpus" / "questions.jsonl"


def ingest(ws, docs=(DOCS,)):
    from adaptdocs.config import IngestConfig
    from adaptdocs.ingest import ingest_paths

    return ingest_paths(ws, list(docs), IngestConfig())


def bench_icl(args) -> dict:
    from adaptdocs.evaluate import evaluate_condition, prompt_templates, render_prompt
    from adaptdocs.models import load_model
    from adaptdocs.questions import load_questions
    from adaptdocs.retrieval import corpus_text
    from adaptdocs.templates import load_template
    from adaptdocs.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        ingest(ws, args.docs)
        prefix = load_template("icl_corpus").render(corpus=corpus_text(ws.store.documents()))
        questions = load_questions(QUESTIONS).questions[: args.questions]
        model = load_model(args.model)
        corpus_tokens = model.count_tokens(prefix)
        model.loglikelihood([("Warm up the kernels.", " Done")])  # first-call costs out of both timings

        model.forget_prefix()
        start = time.perf_counter()
        shared = evaluate_condition(model, questions, "icl", prefix, batch_size=args.batch_size)
        shared_s = time.perf_counter() - start
        # Again with the corpus already encoded: a report's questions share one encoding, which a
        # handful of questions here would otherwise carry alone.
        start = time.perf_counter()
        evaluate_condition(model, questions, "icl", prefix, batch_size=args.batch_size)
        cached_s = time.perf_counter() - start

        # The previous path: the prefix cache copied into every row.
        model.shared_prefix, shared_attention = False, model.shared_prefix
        model.forget_prefix()
        start = time.perf_counter()
        evaluate_condition(model, questions, "icl", prefix, batch_size=args.batch_size)
        copied_s = time.perf_counter() - start
        model.shared_prefix = shared_attention

        # No prefix: what a fine-tuned adapter costs a query (scoring merges it into the weights).
        start = time.perf_counter()
        evaluate_condition(model, questions, "base", "", batch_size=args.batch_size)
        no_prefix_s = time.perf_counter() - start

        templates = prompt_templates()
        requests = [(prefix + render_prompt(q, templates), " " + c) for q in questions for c in q.choices]
        naive_s = max_diff = None
        if not args.no_naive:
            model.forget_prefix()
            start = time.perf_counter()
            naive_scores, _ = model.loglikelihood(requests, batch_size=args.naive_batch_size)
            naive_s = time.perf_counter() - start
            shared_scores = [lp for r in shared.records for lp in r.logprobs]
            max_diff = round(max(abs(a - b) for a, b in zip(shared_scores, naive_scores)), 4)
        return {
            "model": model.info.name,
            "dtype": model.info.dtype,
            "questions": len(questions),
            "requests": len(requests),
            "corpus_tokens": corpus_tokens,
            "shared_prefix_attention": shared_attention,
            "shared_prefix_seconds": round(shared_s, 2),
            "copied_prefix_seconds": round(copied_s, 2),
            "corpus_encoded_seconds": round(shared_s - cached_s, 2),
            "naive_seconds": naive_s and round(naive_s, 2),
            "speedup": naive_s and round(naive_s / shared_s, 1),
            "speedup_copied_prefix": naive_s and round(naive_s / copied_s, 1),
            "icl_seconds_per_query": round(shared_s / len(questions), 4),
            "icl_seconds_per_query_corpus_encoded": round(cached_s / len(questions), 4),
            "no_prefix_seconds_per_query": round(no_prefix_s / len(questions), 4),
            "icl_over_no_prefix": round(shared_s / no_prefix_s, 2),
            "icl_over_no_prefix_corpus_encoded": round(cached_s / no_prefix_s, 2),
            "max_logprob_difference": max_diff,
            "naive_batch_size": args.naive_batch_size,
        }


def demo_timing(args) -> dict:
    from adaptdocs.augment import augment
    from adaptdocs.compare import compare
    from adaptdocs.config import AugmentConfig, CompareConfig, ModelConfig, TrainConfig
    from adaptdocs.train import train
    from adaptdocs.workspace import Workspace

    model = ModelConfig(model=args.model)
    limit = 4 if args.quick else None
    max_steps = 2 if args.quick else None
    stages = {}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")

        def timed(name, fn):
            start = time.perf_counter()
            fn()
            stages[name] = round(time.perf_counter() - start, 1)
            print(f"{name}: {stages[name]} s", flush=True)

        timed("ingest", lambda: ingest(ws))
        augment_config = AugmentConfig(strategy="both", model=model, limit=limit)
        timed("augment", lambda: augment(ws, augment_config))
        train_config = TrainConfig(model=model, max_steps=max_steps)
        for data in ("plain", "local", "global", "both"):
            timed(f"train {data}", lambda: train(ws, replace(train_config, data=data)))
        questions = QUESTIONS
        if args.quick:  # a handful of questions: the point is that every stage runs
            questions = Path(tmp) / "questions.jsonl"
            questions.write_text("".join(QUESTIONS.read_text().splitlines(keepends=True)[:8]))
        compare_config = CompareConfig(
            questions=str(questions), model=model, no_train=True, augment=augment_config, train=train_config
        )
        timed("compare", lambda: compare(ws, compare_config))
    stages["total"] = round(sum(stages.values()), 1)
    return {"quick": args.quick, "stages_seconds": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few questions / steps, to check it runs")
    parser.add_argument("--demo-timing", action="store_true", help="time each stage of the demo pipeline")
    parser.add_argument("--model", default=None, help="model spec [default: embedded SmolLM2-135M-Instruct]")
    parser.add_argument("--questions", type=int, default=None, help="questions scored both ways [16; --quick 3]")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-naive", action="store_true", help="skip re-encoding the corpus per choice (slow past 3k tokens)")
    parser.add_argument("--docs", type=Path, nargs="+", default=[DOCS], help="corpus folders [sample_corpus/docs]")
    parser.add_argument("--naive-batch-size", type=int, default=4, help="rows of corpus+prompt per forward")
    args = parser.parse_args()
    if args.questions is None:
        args.questions = 3 if args.quick else 16
    result = demo_timing(args) if args.demo_timing else bench_icl(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
