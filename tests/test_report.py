"""The report: design.md's report.json schema, the bootstrap interval, break-even arithmetic, files."""

from __future__ import annotations

import json

import pytest

from adaptdocs.evaluate import ConditionResult, QuestionRecord
from adaptdocs.report import bootstrap_ci, break_even_queries, build_report, write_report


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
