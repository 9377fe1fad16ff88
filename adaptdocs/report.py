"""The comparison report: accuracy per condition × question kind with 95% bootstrap intervals,
per-query and one-time costs, break-even query counts; written as report.json (design.md's
schema), report.md, report.html and PNG charts in `<workspace>/reports/<timestamp>/`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .atomic import temp_dir
from .evaluate import ConditionResult

RESAMPLES = 1000
COST_KEYS = (
    "train_tokens",
    "augment_tokens",
    "train_seconds",
    "augment_seconds",
    "prompt_tokens_per_query",
    "seconds_per_query",
)
BREAK_EVEN_NOTE = (
    "break_even_queries = ceil((augment_tokens + train_tokens) / (icl prompt_tokens_per_query - "
    "ft prompt_tokens_per_query)): the queries after which the fine-tuned condition's one-time cost, "
    "in tokens processed, is paid back by its shorter prompts; null (never) when it is not cheaper per "
    "query. prompt_tokens_per_query counts every token of a query's prompt, the icl corpus included, as "
    "a deployment pays them per query unless it caches the corpus prefix; a training token costs about "
    "3x an inference token in compute, so in FLOPs the break-even is about "
    "(augment_tokens + 3 x train_tokens) / difference."
)


@dataclass
class Report:
    data: dict  # report.json's content
    path: Path  # the report's folder


def bootstrap_ci(values: Sequence[float], resamples: int = RESAMPLES, seed: int = 0) -> list[float]:
    """95% percentile interval of the mean, resampling `values` with replacement.

    Args:
        values: one score per question (1.0 right, 0.0 wrong).
        resamples: bootstrap resamples.
        seed: the resampling seed: the same values and seed give the same interval.
    """
    import numpy as np

    n = len(values)
    if n == 0:
        return [0.0, 0.0]
    rng = np.random.default_rng(seed)
    means = np.asarray(values, dtype=float)[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def break_even_queries(one_time_tokens: float, icl_tokens_per_query: float, ft_tokens_per_query: float) -> int | None:
    """Queries after which fine-tuning's one-time tokens are paid back by shorter prompts than icl's.

    Args:
        one_time_tokens: augmentation plus training tokens of the fine-tuned condition.
        icl_tokens_per_query: prompt tokens of one icl query (the corpus included).
        ft_tokens_per_query: prompt tokens of one query to the fine-tuned model.

    Returns None (never) when the fine-tuned condition is not cheaper per query.
    """
    saving = icl_tokens_per_query - ft_tokens_per_query
    if saving <= 0:
        return None
    return math.ceil(one_time_tokens / saving)


def _cell(hits: list[float], hits_norm: list[float], seed: int) -> dict:
    n = len(hits)
    return {
        "acc": round(sum(hits) / n, 4) if n else 0.0,
        "acc_norm": round(sum(hits_norm) / n, 4) if n else 0.0,
        "ci95": bootstrap_ci(hits, seed=seed),
        "n": n,
    }


def condition_summary(result: ConditionResult, cost: dict, seed: int = 0) -> dict:
    """One condition's entry of report.json: overall and per-kind accuracy, intervals, cost."""
    hits = [float(r.hit) for r in result.records]
    hits_norm = [float(r.hit_norm) for r in result.records]
    summary = _cell(hits, hits_norm, seed)
    by_kind = {}
    for kind in sorted({r.kind for r in result.records}):
        records = [r for r in result.records if r.kind == kind]
        by_kind[kind] = _cell([float(r.hit) for r in records], [float(r.hit_norm) for r in records], seed)
    summary["by_kind"] = by_kind
    summary["cost"] = {
        "train_tokens": int(cost.get("train_tokens", 0)),
        "augment_tokens": int(cost.get("augment_tokens", 0)),
        "train_seconds": round(float(cost.get("train_seconds", 0.0)), 2),
        "augment_seconds": round(float(cost.get("augment_seconds", 0.0)), 2),
        "prompt_tokens_per_query": round(result.prompt_tokens_per_query, 1),
        "seconds_per_query": round(result.seconds_per_query, 4),
    }
    return summary


def build_report(
    model: str,
    questions: dict,
    results: dict[str, ConditionResult],
    costs: dict[str, dict],
    *,
    chance: dict | None = None,
    seed: int = 0,
    notes: Sequence[str] = (),
    warnings: Sequence[str] = (),
    extra: dict | None = None,
) -> dict:
    """report.json's content.

    Args:
        model: the base model's name.
        questions: {"path", "n", "sha256"} of the question set.
        results: condition → its evaluation.
        costs: condition → one-time costs (train_tokens, augment_tokens, train_seconds, augment_seconds).
        chance: {"overall": p, "by_kind": {kind: p}}, the accuracy of guessing.
        seed: the bootstrap seed.
        notes: how to read the report (retrieval used, what costs count).
        warnings: problems found on the way (skipped lines, unknown sources, leaks).
        extra: more top-level keys (retrieval details, usage).
    """
    conditions = {name: condition_summary(r, costs.get(name, {}), seed) for name, r in results.items()}
    break_even = {}
    if "icl" in conditions:
        icl_tokens = conditions["icl"]["cost"]["prompt_tokens_per_query"]
        for name, summary in conditions.items():
            if name.startswith("ft-"):
                c = summary["cost"]
                break_even[f"{name}_vs_icl"] = break_even_queries(
                    c["augment_tokens"] + c["train_tokens"], icl_tokens, c["prompt_tokens_per_query"]
                )
    return {
        "model": model,
        "questions": questions,
        "conditions": conditions,
        "break_even_queries": break_even,
        "chance": chance or {},
        "seed": seed,
        "bootstrap_resamples": RESAMPLES,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": [*notes, BREAK_EVEN_NOTE],
        "warnings": list(warnings),
        **(extra or {}),
    }


# -- rendering ----------------------------------------------------------------------------


def kinds_of(data: dict) -> list[str]:
    return sorted({k for c in data["conditions"].values() for k in c["by_kind"]})


def format_cell(cell: dict | None) -> str:
    if not cell:
        return "–"
    lo, hi = cell["ci95"]
    return f"{cell['acc']:.2f} [{lo:.2f}–{hi:.2f}]"


def render_markdown(data: dict, charts: Sequence[str] = ()) -> str:
    kinds = kinds_of(data)
    q = data["questions"]
    lines = [
        f"# adaptdocs report — {data['model']}",
        "",
        f"Questions: `{q['path']}` ({q['n']} questions, sha256 `{q['sha256'][:12]}…`). "
        f"Created {data['created_at']}. Accuracy with 95% bootstrap interval "
        f"({data['bootstrap_resamples']} resamples, seed {data['seed']}); n per kind in parentheses.",
        "",
        "| condition | " + " | ".join(kinds) + " | overall | acc_norm |",
        "|---|" + "---|" * (len(kinds) + 2),
    ]
    for name, c in data["conditions"].items():
        cells = [f"{format_cell(c['by_kind'].get(k))} ({c['by_kind'][k]['n']})" if k in c["by_kind"] else "–" for k in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {format_cell(c)} ({c['n']}) | {c['acc_norm']:.2f} |")
    chance = data.get("chance") or {}
    if chance:
        by_kind = chance.get("by_kind", {})
        lines.append(
            "| *chance* | " + " | ".join(f"{by_kind[k]:.2f}" if k in by_kind else "–" for k in kinds)
            + f" | {chance.get('overall', 0):.2f} | |"
        )
    lines += [
        "",
        "## Cost",
        "",
        "| condition | prompt tokens / query | seconds / query | augment tokens | augment s | train tokens | train s | break-even queries vs icl |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in data["conditions"].items():
        k = c["cost"]
        be = data["break_even_queries"].get(f"{name}_vs_icl", "")
        be = "never" if be is None else (f"{be:,}" if be != "" else "")
        lines.append(
            f"| {name} | {k['prompt_tokens_per_query']:,.1f} | {k['seconds_per_query']:.3f} | {k['augment_tokens']:,} | "
            f"{k['augment_seconds']:.1f} | {k['train_tokens']:,} | {k['train_seconds']:.1f} | {be} |"
        )
    lines += ["", "## Notes", ""] + [f"- {n}" for n in data["notes"]]
    if data["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in data["warnings"]]
    if charts:
        lines += ["", "## Charts", ""] + [f"![{Path(c).stem}]({c})" for c in charts]
    return "\n".join(lines) + "\n"


def render_html(data: dict, chart_paths: Sequence[Path]) -> str:
    """A self-contained page: the tables of report.md, the charts embedded as data URIs."""
    kinds = kinds_of(data)
    esc = html.escape
    rows = []
    for name, c in data["conditions"].items():
        cells = "".join(
            f"<td>{esc(format_cell(c['by_kind'].get(k)))} <small>n={c['by_kind'][k]['n']}</small></td>"
            if k in c["by_kind"] else "<td>–</td>"
            for k in kinds
        )
        rows.append(f"<tr><th>{esc(name)}</th>{cells}<td>{esc(format_cell(c))} <small>n={c['n']}</small></td>"
                    f"<td>{c['acc_norm']:.2f}</td></tr>")
    cost_rows = []
    for name, c in data["conditions"].items():
        k = c["cost"]
        be = data["break_even_queries"].get(f"{name}_vs_icl", "")
        be = "never" if be is None else be
        cost_rows.append(
            f"<tr><th>{esc(name)}</th><td>{k['prompt_tokens_per_query']:,.1f}</td><td>{k['seconds_per_query']:.3f}</td>"
            f"<td>{k['augment_tokens']:,}</td><td>{k['augment_seconds']:.1f}</td><td>{k['train_tokens']:,}</td>"
            f"<td>{k['train_seconds']:.1f}</td><td>{esc(str(be))}</td></tr>"
        )
    images = "".join(
        f'<figure><img alt="{esc(p.stem)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        f"<figcaption>{esc(p.name)}</figcaption></figure>"
        for p in chart_paths
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in data["notes"])
    warnings = "".join(f"<li>{esc(w)}</li>" for w in data["warnings"])
    q = data["questions"]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>adaptdocs report</title>
<style>body{{font-family:sans-serif;max-width:72em;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>adaptdocs report — {esc(data['model'])}</h1>
<p>Questions: <code>{esc(str(q['path']))}</code>, {q['n']} questions. Created {esc(data['created_at'])}.
Accuracy with 95% bootstrap interval ({data['bootstrap_resamples']} resamples, seed {data['seed']}).</p>
<table><tr><th>condition</th>{''.join(f'<th>{esc(k)}</th>' for k in kinds)}<th>overall</th><th>acc_norm</th></tr>
{''.join(rows)}</table>
<h2>Cost</h2>
<table><tr><th>condition</th><th>prompt tokens / query</th><th>seconds / query</th><th>augment tokens</th>
<th>augment s</th><th>train tokens</th><th>train s</th><th>break-even queries vs icl</th></tr>
{''.join(cost_rows)}</table>
{images}
<h2>Notes</h2><ul>{notes}</ul>
{f'<h2>Warnings</h2><ul>{warnings}</ul>' if warnings else ''}
</body></html>
"""


def render_charts(data: dict, folder: Path) -> list[Path]:
    """accuracy_by_kind.png (bars with interval whiskers) and accuracy_vs_cost.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = kinds_of(data) + ["overall"]
    names = list(data["conditions"])
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(kinds) + 2), 4))
    for i, name in enumerate(names):
        c = data["conditions"][name]
        cells = [c["by_kind"].get(k) if k != "overall" else c for k in kinds]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(kinds))]
        accs = [cell["acc"] if cell else 0.0 for cell in cells]
        errs = [
            [cell["acc"] - cell["ci95"][0] if cell else 0.0 for cell in cells],
            [cell["ci95"][1] - cell["acc"] if cell else 0.0 for cell in cells],
        ]
        ax.bar(xs, accs, width, yerr=errs, capsize=2, label=name)
    chance = (data.get("chance") or {}).get("by_kind", {})
    for j, k in enumerate(kinds):
        p = chance.get(k) if k != "overall" else data.get("chance", {}).get("overall")
        if p is not None:
            ax.hlines(p, j - 0.4, j + 0.4, colors="grey", linestyles="dashed", linewidth=1)
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% bootstrap interval)")
    ax.set_title("Accuracy by question kind (dashed: chance)")
    ax.legend(fontsize="small", ncols=min(len(names), 3))
    fig.tight_layout()
    by_kind_path = folder / "accuracy_by_kind.png"
    fig.savefig(by_kind_path, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        c = data["conditions"][name]
        x = c["cost"]["prompt_tokens_per_query"]
        ax.errorbar([x], [c["acc"]], yerr=[[c["acc"] - c["ci95"][0]], [c["ci95"][1] - c["acc"]]], fmt="o", capsize=3)
        ax.annotate(name, (x, c["acc"]), textcoords="offset points", xytext=(5, 5))
    ax.set_xscale("log")
    ax.set_xlabel("prompt tokens per query (log)")
    ax.set_ylabel("overall accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("Accuracy against per-query cost")
    fig.tight_layout()
    cost_path = folder / "accuracy_vs_cost.png"
    fig.savefig(cost_path, dpi=100)
    plt.close(fig)
    return [by_kind_path, cost_path]


def write_report(reports_dir: Path, data: dict, results: dict[str, ConditionResult]) -> Path:
    """Write the report folder atomically (a temporary folder, renamed when complete).

    Args:
        reports_dir: the workspace's reports/ folder.
        data: report.json's content.
        results: the evaluations, whose per-question records go to predictions.jsonl.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    final = reports_dir / stamp
    suffix = 1
    while final.exists():
        suffix += 1
        final = reports_dir / f"{stamp}-{suffix}"
    tmp = temp_dir(reports_dir, f".tmp-{final.name}-")
    try:
        charts = render_charts(data, tmp)
        (tmp / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(data, [c.name for c in charts]), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(data, charts), encoding="utf-8")
        with open(tmp / "predictions.jsonl", "w", encoding="utf-8") as f:
            for name, result in results.items():
                for record in result.records:
                    f.write(json.dumps({"condition": name, **record.as_dict()}) + "\n")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
