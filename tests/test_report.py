"""The report: design.md's report.json schema, the bootstrap interval, break-even arithmetic, files."""

from __future__ import annotations

import json
import math

import pytest

from adaptdocs.evaluate import ConditionResult, QuestionRecord
from adaptdocs.report import _dodge, bootstrap_ci, break_even_queries, build_report, verdict, write_report


def result(condition: str, hits: list[tuple[str, bool]], tokens: float = 40.0, seconds: float = 0.05) -> ConditionResult:
    records = [
        QuestionRecord(f"q{i}", kind, 0 if hit else 1, 0 if hit else 1, 0, [-1.0, -2.0] if hit else [-2.0, -1.0])
        for i, (kind, hit) in enumerate(hits)
    ]
    return ConditionResult(condition, records, tokens, seconds)


HITS = [("recall", True)] * 6 + [("recall", False)] * 2 + [("reversal", True)] * 1 + [("reversal", False)] * 3


def sample_report() -> dict:
    results = {
        "base": result("base", HITS, 40.0),
        "icl": result("icl", HITS, 3040.0),
        "ft-global": result("ft-global", HITS, 40.0),
    }
    costs = {"ft-global": {"train_tokens": 100_000, "augment_tokens": 200_000, "train_seconds": 88.1, "augment_seconds": 12.5}}
    return build_report(
        "SmolLM2-135M-Instruct",
        {"path": "questions.jsonl", "n": len(HITS), "sha256": "ab" * 32},
        results,
        costs,
        chance={"overall": 0.25, "by_kind": {"recall": 0.25, "reversal": 0.25}},
        seed=0,
        notes=["icl: whole corpus in the prompt"],
        warnings=["line 3: not JSON, skipped"],
    )


def test_report_json_has_exactly_the_design_schema():
    data = sample_report()
    assert {"model", "questions", "conditions", "break_even_queries"} <= set(data)
    assert data["model"] == "SmolLM2-135M-Instruct"
    assert set(data["questions"]) == {"path", "n", "sha256"}
    assert list(data["conditions"]) == ["base", "icl", "ft-global"]
    cell = data["conditions"]["ft-global"]
    assert {"acc", "acc_norm", "ci95", "n", "by_kind", "cost"} <= set(cell)
    assert cell["n"] == 12 and cell["acc"] == pytest.approx(7 / 12, abs=1e-4)
    assert set(cell["by_kind"]) == {"recall", "reversal"}
    assert set(cell["by_kind"]["reversal"]) == {"acc", "acc_norm", "ci95", "n"}
    assert cell["by_kind"]["reversal"] == {"acc": 0.25, "acc_norm": 0.25, "ci95": cell["by_kind"]["reversal"]["ci95"], "n": 4}
    assert set(cell["cost"]) == {
        "train_tokens", "augment_tokens", "train_seconds", "augment_seconds", "prompt_tokens_per_query", "seconds_per_query"
    }
    assert cell["cost"]["train_tokens"] == 100_000 and cell["cost"]["train_seconds"] == 88.1
    assert data["conditions"]["base"]["cost"]["train_tokens"] == 0
    assert isinstance(cell["ci95"], list) and len(cell["ci95"]) == 2
    assert set(data["break_even_queries"]) == {"ft-global_vs_icl"}
    json.dumps(data)  # serialisable as is


def test_bootstrap_interval_contains_the_mean_and_is_deterministic():
    values = [1.0] * 30 + [0.0] * 20
    lo, hi = bootstrap_ci(values, seed=7)
    assert lo <= 0.6 <= hi
    assert 0 <= lo < hi <= 1
    assert bootstrap_ci(values, seed=7) == [lo, hi]
    assert bootstrap_ci([1.0] * 10) == [1.0, 1.0]


def test_bootstrap_interval_shrinks_with_more_questions():
    small = bootstrap_ci([1.0, 0.0] * 10)
    large = bootstrap_ci([1.0, 0.0] * 500)
    assert large[1] - large[0] < (small[1] - small[0]) / 3


def test_break_even_arithmetic():
    # 300,000 one-time tokens, 3,000 tokens saved per query -> 100 queries.
    assert break_even_queries(300_000, 3040, 40) == 100
    assert break_even_queries(300_001, 3040, 40) == 101  # a started query counts
    assert break_even_queries(0, 100, 40) == 0
    assert sample_report()["break_even_queries"]["ft-global_vs_icl"] == 100


def test_break_even_is_never_when_fine_tuning_is_not_cheaper_per_query():
    assert break_even_queries(1000, 40, 40) is None
    assert break_even_queries(1000, 40, 60) is None
    data = build_report(
        "m", {"path": "q", "n": 1, "sha256": "0"},
        {"icl": result("icl", [("recall", True)], 40.0), "ft-plain": result("ft-plain", [("recall", True)], 50.0)},
        {"ft-plain": {"train_tokens": 10}},
    )
    assert data["break_even_queries"] == {"ft-plain_vs_icl": None}


def test_write_report_writes_every_file_atomically(tmp_path):
    data = sample_report()
    results = {"base": result("base", HITS)}
    path = write_report(tmp_path / "reports", data, results)
    assert path.parent == tmp_path / "reports"
    names = {p.name for p in path.iterdir()}
    assert {"report.json", "report.md", "report.html", "accuracy_by_kind.png", "accuracy_vs_cost.png", "predictions.jsonl"} <= names
    assert json.loads((path / "report.json").read_text()) == data
    md = (path / "report.md").read_text()
    assert "| ft-global |" in md and "0.58 [" in md and "line 3: not JSON" in md and "break_even" in md
    html = (path / "report.html").read_text()
    assert "data:image/png;base64," in html and "ft-global" in html
    assert (path / "accuracy_by_kind.png").read_bytes()[:4] == b"\x89PNG"
    first = json.loads((path / "predictions.jsonl").read_text().splitlines()[0])
    assert set(first) == {"condition", "id", "kind", "picked", "picked_norm", "correct", "logprobs"}
    second = write_report(tmp_path / "reports", data, results)  # same second: a distinct folder
    assert second != path
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".tmp")]


# -- the verdict ----------------------------------------------------------------------------
# verdict() reads report.json's content only, so these tests build that content directly.


def cell(acc: float, lo: float, hi: float, n: int = 60) -> dict:
    return {"acc": acc, "acc_norm": acc, "ci95": [lo, hi], "n": n}


def condition(acc, lo, hi, tokens=40.0, once=0, by_kind=None) -> dict:
    kinds = by_kind or {"recall": (acc, lo, hi), "reversal": (acc, lo, hi)}
    return {
        **cell(acc, lo, hi),
        "by_kind": {k: cell(*v, n=30) for k, v in kinds.items()},
        "cost": {"train_tokens": once // 2, "augment_tokens": once - once // 2, "train_seconds": 10.0,
                 "augment_seconds": 5.0 if once else 0.0, "prompt_tokens_per_query": tokens, "seconds_per_query": 0.05},
    }


def report_data(conditions: dict, chance: float | None = 0.25) -> dict:
    """report.json's content around `conditions`, break-even computed as build_report does."""
    break_even = {}
    for ref in ("icl", "rag"):
        if ref in conditions:
            for name, c in conditions.items():
                if "ft-" in name:
                    k = c["cost"]
                    break_even[f"{name}_vs_{ref}"] = break_even_queries(
                        k["augment_tokens"] + k["train_tokens"], conditions[ref]["cost"]["prompt_tokens_per_query"],
                        k["prompt_tokens_per_query"])
    return {
        "conditions": conditions,
        "break_even_queries": break_even,
        "chance": {} if chance is None else {"overall": chance, "by_kind": {"recall": chance, "reversal": chance}},
        "questions": {"path": "q.jsonl", "n": 60, "sha256": "0" * 64},
    }


def test_verdict_clear_winner():
    data = report_data({
        "base": condition(0.30, 0.20, 0.42),
        "icl": condition(0.50, 0.38, 0.62, tokens=3040.0),
        "ft-global": condition(0.80, 0.70, 0.90, once=300_000,
                               by_kind={"recall": (0.9, 0.8, 1.0), "reversal": (0.7, 0.55, 0.85)}),
    })
    first, kinds, cost = verdict(data)
    assert first.startswith("Use ft-global: it scores highest overall, 0.80 [0.70–0.90], clearly above the runner-up icl")
    assert "the cheapest condition, base (0.30 [0.20–0.42]), is clearly below" in first
    assert "within noise" not in first and "etrieval" not in " ".join(verdict(data))
    assert "clearly ahead of icl on recall (0.90 [0.80–1.00] against 0.50 [0.38–0.62])" in kinds
    assert "ft-global costs 40 prompt tokens and 0.050 s per query, plus 300,000 tokens (15 s) once" in cost
    assert "paid back against icl after 100 queries" in cost  # 300,000 / (3,040 - 40)


def test_verdict_within_noise_names_the_cheaper_alternative():
    data = report_data({
        "base": condition(0.30, 0.20, 0.42),
        "icl": condition(0.62, 0.50, 0.74, tokens=3040.0),
        "ft-plain": condition(0.55, 0.43, 0.67, once=30_000),
        "ft-both": condition(0.58, 0.46, 0.70, once=600_000),
    })
    text = " ".join(verdict(data))
    assert text.startswith("Use icl: it scores highest overall, 0.62 [0.50–0.74], but the difference from the "
                           "runner-up ft-both (0.58 [0.46–0.70]) is within noise")
    # The most accurate cheaper condition within noise is named with its cost and break-even.
    assert "ft-both, within noise of it, costs 40 prompt tokens" in text
    assert "paid back against icl after 200 queries" in text
    assert "Retrieval" not in text


def test_verdict_retrieval_best():
    conditions = {
        "base": condition(0.30, 0.20, 0.42),
        "icl": condition(0.55, 0.43, 0.67, tokens=3040.0),
        "rag": condition(0.85, 0.76, 0.93, tokens=540.0),
        "ft-both": condition(0.50, 0.38, 0.62, once=500_000),
        "rag+ft-both": condition(0.83, 0.74, 0.92, tokens=540.0, once=500_000),
    }
    data = report_data(conditions)
    assert data["break_even_queries"]["ft-both_vs_rag"] == 1000  # 500,000 / (540 - 40)
    assert data["break_even_queries"]["rag+ft-both_vs_rag"] is None  # same prompt: never
    text = " ".join(verdict(data))
    assert text.startswith("Use rag: it scores highest overall")
    assert "Retrieval is better here: every condition without it is clearly below rag, the best of them being icl" in text
    assert "rag costs 540 prompt tokens and 0.050 s per query, with no one-time cost" in text

    conditions["ft-both"] = condition(0.75, 0.64, 0.85, once=500_000)  # now within noise of rag
    text = " ".join(verdict(report_data(conditions)))
    assert "Retrieval is better here" not in text
    assert "Retrieval is not clearly better here: ft-both (0.75 [0.64–0.85]), without it, is within noise of rag." in text
    assert "ft-both, within noise of it, costs 40 prompt tokens" in text and "against rag after 1,000 queries" in text


def test_verdict_all_at_chance():
    data = report_data({
        "base": condition(0.27, 0.16, 0.38),
        "icl": condition(0.33, 0.22, 0.45, tokens=3040.0),
        "ft-global": condition(0.30, 0.19, 0.41, once=300_000),
    })
    sentences = verdict(data)
    assert sentences[0].startswith("No condition is clearly above chance here: every overall 95% interval reaches "
                                   "down to chance (0.25) or below, the highest being icl at 0.33 [0.22–0.45].")
    assert "recommends none" in sentences[1] and "60 questions" in sentences[1]
    assert sentences[2].startswith("The cheapest condition, base, costs 40 prompt tokens")
    assert not any(s.startswith("Use ") for s in sentences)


def test_verdict_is_true_against_the_table_for_random_numbers():
    """Every number the verdict quotes is a cell of the table, and each claim follows the rule."""
    import random
    import re

    from adaptdocs.report import cost_order, format_cell, overlaps

    rng = random.Random(0)
    names = ["base", "icl", "rag", "ft-plain", "ft-global", "rag+ft-both", "custom"]
    for _ in range(300):
        conditions = {}
        for name in rng.sample(names, rng.randint(1, len(names))):
            def random_cell():
                acc = round(rng.random(), 2)
                return acc, round(max(0.0, acc - rng.uniform(0, 0.2)), 2), round(min(1.0, acc + rng.uniform(0, 0.2)), 2)
            tokens = 3040.0 if name == "icl" else 540.0 if name.startswith("rag") else rng.choice([40.0, 40.0, 90.0])
            conditions[name] = condition(*random_cell(), tokens=tokens, once=rng.choice([0, 10_000]) if "ft-" in name else 0,
                                         by_kind={"recall": random_cell(), "reversal": random_cell()})
        data = report_data(conditions, chance=rng.choice([None, 0.25, 0.5]))
        text = " ".join(verdict(data))
        cells = {format_cell(c) for c in conditions.values()} | {
            format_cell(k) for c in conditions.values() for k in c["by_kind"].values()}
        for quoted in re.findall(r"\d\.\d\d \[\d\.\d\d–\d\.\d\d\]", text):
            assert quoted in cells
        ranked = sorted(conditions, key=lambda n: (-conditions[n]["acc"], cost_order(conditions[n])))
        best = conditions[ranked[0]]
        chance = (data["chance"] or {}).get("overall")
        at_chance = chance is not None and all(c["ci95"][0] <= chance for c in conditions.values())
        assert text.startswith("No condition is clearly above chance") == at_chance
        if at_chance:
            continue
        assert text.startswith(f"Use {ranked[0]}: ")
        first = verdict(data)[0]
        if len(ranked) > 1:
            assert ("the difference from the runner-up" in first) == overlaps(conditions[ranked[1]], best)
        plain = [c for n, c in conditions.items() if not n.startswith("rag")]
        clearly = ranked[0].startswith("rag") and plain and not any(overlaps(c, best) for c in plain)
        assert ("Retrieval is better here" in text) == bool(clearly)
        assert ("Retrieval is not clearly better here" in text) == (ranked[0].startswith("rag") and bool(plain)
                                                                    and not clearly)


def test_verdict_is_stored_and_rendered_at_the_top(tmp_path):
    data = sample_report()
    assert data["verdict"] == verdict(data) and list(data)[0] == "verdict"
    path = write_report(tmp_path / "reports", data, {})
    md = (path / "report.md").read_text()
    assert md.index("## Verdict") < md.index("| condition |")
    assert " ".join(data["verdict"]) in md
    html = (path / "report.html").read_text()
    assert html.index('class="verdict"') < html.index("<table")
    assert html.count("<p>") >= 2 and data["verdict"][-1] in html


def test_charts_have_captions_not_file_names(tmp_path):
    data = sample_report()
    path = write_report(tmp_path / "reports", data, {})
    md = (path / "report.md").read_text()
    assert "![accuracy_by_kind]" not in md
    assert "![Overall accuracy (95% bootstrap interval) against prompt tokens per query" in md
    html = (path / "report.html").read_text()
    assert "<figcaption>accuracy" not in html and 'alt="accuracy_' not in html
    assert 'alt="Accuracy of each condition per question kind' in html
    assert "<figcaption>Overall accuracy (95% bootstrap interval) against prompt tokens per query" in html


def test_conditions_at_the_same_cost_are_drawn_side_by_side():
    xs = _dodge([40.0, 3040.0, 40.0, 40.0, 540.0, 40.0])
    same_cost = [xs[0], xs[2], xs[3], xs[5]]
    assert len(set(same_cost)) == 4 and same_cost == sorted(same_cost)  # distinct, in report order
    assert math.prod(same_cost) == pytest.approx(40.0 ** 4)  # centred (geometrically) on the true cost
    assert xs[1] == 3040.0 and xs[4] == 540.0


# -- a realistic report: 9 conditions, 7 kinds ------------------------------------------------

KINDS = ["recall", "rephrase", "reversal", "multihop", "syllogism", "aggregation", "comparison_reversal"]
REALISTIC = {  # condition -> (accuracy per kind, prompt tokens / query, seconds / query)
    "base": ([.30, .28, .25, .27, .35, .25, .30], 48.0, 0.021),
    "icl": ([.90, .80, .70, .55, .60, .45, .50], 3412.0, 0.412),
    "rag": ([.85, .75, .60, .45, .55, .35, .45], 612.0, 0.074),
    "ft-plain": ([.60, .35, .25, .30, .35, .25, .30], 48.0, 0.023),
    "ft-local": ([.65, .50, .30, .30, .40, .30, .30], 48.0, 0.023),
    "ft-global": ([.70, .55, .55, .40, .45, .30, .40], 48.0, 0.023),
    "ft-both": ([.72, .60, .60, .45, .45, .35, .45], 48.0, 0.023),
    "rag+ft-plain": ([.86, .74, .60, .45, .55, .35, .45], 612.0, 0.077),
    "rag+ft-both": ([.88, .80, .72, .50, .55, .40, .50], 612.0, 0.077),
}
ONE_TIME = {"plain": (0, 61_234, 0.0, 41.0), "local": (184_000, 142_300, 96.0, 88.0),
            "global": (231_500, 160_900, 121.0, 97.0), "both": (415_500, 303_200, 217.0, 181.0)}


def realistic_report(seed: int = 0, per_kind: int = 15) -> tuple[dict, dict]:
    """report.json's content and the results behind it, drawn at random around REALISTIC's accuracies."""
    import random

    rng = random.Random(seed)
    results, costs = {}, {}
    for name, (accs, tokens, seconds) in REALISTIC.items():
        hits = [(kind, rng.random() < p) for kind, p in zip(KINDS, accs) for _ in range(per_kind)]
        results[name] = result(name, hits, tokens, seconds)
        if "ft-" in name:
            a, t, a_s, t_s = ONE_TIME[name.split("ft-")[1]]
            costs[name] = {"augment_tokens": a, "train_tokens": t, "augment_seconds": a_s, "train_seconds": t_s}
    data = build_report(
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        {"path": "/home/user/corpora/ondravel/questions.jsonl", "n": per_kind * len(KINDS), "sha256": "3f" * 32},
        results, costs, chance={"overall": 0.25, "by_kind": {k: 0.25 for k in KINDS}},
        notes=["icl: the whole corpus (13 documents, 3,364 tokens) in the prompt.",
               "rag: the 4 best BM25 passages (about 560 tokens) in the prompt."],
        warnings=["questions.jsonl line 17: not JSON, skipped"],
    )
    return data, results


def test_realistic_report_renders(tmp_path):
    data, results = realistic_report()
    assert {"ft-both_vs_icl", "ft-both_vs_rag", "rag+ft-both_vs_icl", "rag+ft-both_vs_rag"} <= set(data["break_even_queries"])
    path = write_report(tmp_path / "reports", data, results)
    html = (path / "report.html").read_text()
    assert "break-even<br>queries vs rag" in html and html.count("<figure>") == 2
    assert "| rag+ft-both |" in (path / "report.md").read_text()


if __name__ == "__main__":
    # Write the realistic report to look at it in a browser (see adaptdocs/report.py's docstring):
    #   python tests/test_report.py /tmp/reports  ->  /tmp/reports/<stamp>/report.html
    import sys
    from pathlib import Path

    data, results = realistic_report()
    print(write_report(Path(sys.argv[1] if len(sys.argv) > 1 else "reports"), data, results) / "report.html")
