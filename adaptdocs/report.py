"""The comparison report: a verdict (which condition to use, and why), accuracy per condition ×
question kind with 95% bootstrap intervals, per-query and one-time costs, break-even query counts;
written as report.json (design.md's schema), report.md, report.html and PNG charts in
`<workspace>/reports/<timestamp>/`.

Condition names are free: a name containing "ft-" is fine-tuned (ft-global, rag+ft-both), one
starting with "rag" has retrieved passages in its prompt (rag, rag+ft-both).

To check how report.html reads in a browser (Debian: `apt-get install -y chromium`), then look at the PNG:
    chromium --headless --no-sandbox --screenshot=/tmp/report.png --window-size=1200,2400 file://$PWD/report.html
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
BREAK_EVEN_REFERENCES = ("icl", "rag")  # break_even_queries["<ft>_vs_<ref>"] for those evaluated
BREAK_EVEN_NOTE = (
    "break_even_queries[\"<ft>_vs_icl\"] = ceil((augment_tokens + train_tokens) / (icl prompt_tokens_per_query - "
    "<ft> prompt_tokens_per_query)): the queries after which the fine-tuned condition's one-time cost, "
    "in tokens processed, is paid back by its shorter prompts; null (never) when it is not cheaper per "
    "query; <ft>_vs_rag likewise against rag. prompt_tokens_per_query counts every token of a query's "
    "prompt, the icl corpus or retrieved passages included, as a deployment pays them per query unless it "
    "caches the corpus prefix; a training token costs about 3x an inference token in compute, so in FLOPs "
    "the break-even is about (augment_tokens + 3 x train_tokens) / difference."
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
    """Queries after which fine-tuning's one-time tokens are paid back by shorter prompts than icl's
    (or rag's: the same arithmetic against another reference condition).

    Args:
        one_time_tokens: augmentation plus training tokens of the fine-tuned condition.
        icl_tokens_per_query: prompt tokens of one query to the reference (icl: the corpus included).
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
    for ref in BREAK_EVEN_REFERENCES:
        if ref not in conditions:
            continue
        ref_tokens = conditions[ref]["cost"]["prompt_tokens_per_query"]
        for name, summary in conditions.items():
            if is_fine_tuned(name):
                c = summary["cost"]
                break_even[f"{name}_vs_{ref}"] = break_even_queries(
                    c["augment_tokens"] + c["train_tokens"], ref_tokens, c["prompt_tokens_per_query"]
                )
    data = {
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
    return {"verdict": verdict(data), **data}


# -- rendering ----------------------------------------------------------------------------


def kinds_of(data: dict) -> list[str]:
    return sorted({k for c in data["conditions"].values() for k in c["by_kind"]})


def format_cell(cell: dict | None) -> str:
    if not cell:
        return "–"
    lo, hi = cell["ci95"]
    return f"{cell['acc']:.2f} [{lo:.2f}–{hi:.2f}]"


# -- the verdict ----------------------------------------------------------------------------


def is_fine_tuned(name: str) -> bool:
    """A condition that runs on an adapter: its name contains "ft-" (ft-global, rag+ft-both)."""
    return "ft-" in name


def is_retrieval(name: str) -> bool:
    """A condition whose prompt carries retrieved passages: its name starts with "rag"."""
    return name.startswith("rag")


def overlaps(a: dict, b: dict) -> bool:
    """Whether two cells' 95% intervals overlap: the verdict's test for "within noise"."""
    return a["ci95"][0] <= b["ci95"][1] and b["ci95"][0] <= a["ci95"][1]


def cost_order(cell: dict) -> tuple:
    """Cheaper first: prompt tokens per query, then one-time tokens, then seconds per query."""
    k = cell["cost"]
    return (k["prompt_tokens_per_query"], k["augment_tokens"] + k["train_tokens"], k["seconds_per_query"])


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _kinds_sentence(data: dict, a: str, b: str) -> str | None:
    """Where, kind by kind, `a` is clearly ahead of or behind `b`, and where `a` does not beat chance."""
    ca, cb = data["conditions"][a], data["conditions"][b]
    kinds = [k for k in kinds_of(data) if k in ca["by_kind"] and k in cb["by_kind"]]
    if not kinds:
        return None
    ahead, behind = [], []
    for k in kinds:
        x, y = ca["by_kind"][k], cb["by_kind"][k]
        if not overlaps(x, y):
            (ahead if x["acc"] > y["acc"] else behind).append(f"{k} ({format_cell(x)} against {format_cell(y)})")
    parts = []
    if ahead:
        parts.append(f"clearly ahead of {b} on {_and(ahead)}")
    if behind:
        parts.append(f"clearly behind {'it' if ahead else b} on {_and(behind)}")
    rest = len(kinds) - len(ahead) - len(behind)
    if not parts:
        every = {1: "the one kind", 2: "both kinds"}.get(len(kinds), f"all {len(kinds)} kinds")
        sentence = f"By kind, {a} and {b} are within noise of each other on {every}"
    else:
        if rest:
            parts.append(f"within noise on the other {rest}" if rest > 1 else "within noise on the other one")
        sentence = f"By kind, {a} is " + _and(parts)
    by_kind_chance = (data.get("chance") or {}).get("by_kind") or {}
    at_chance = [k for k in kinds if k in by_kind_chance and ca["by_kind"][k]["ci95"][0] <= by_kind_chance[k]]
    if at_chance:
        sentence += f"; {a} is not clearly above chance on {_and(at_chance)}"
    return sentence + "."


def _cost_sentence(data: dict, name: str, subject: str | None = None, paid_back_only: bool = False) -> str:
    """Per-query and one-time cost, and break-even queries (`paid_back_only`: leave out the nevers)."""
    k = data["conditions"][name]["cost"]
    sentence = (f"{subject or name} costs {k['prompt_tokens_per_query']:,.0f} prompt tokens and "
                f"{k['seconds_per_query']:.3f} s per query")
    once = k["augment_tokens"] + k["train_tokens"]
    if once:
        sentence += (f", plus {once:,} tokens ({k['augment_seconds'] + k['train_seconds']:,.0f} s) once "
                     "for augmentation and training")
        paybacks = []
        for ref in BREAK_EVEN_REFERENCES:
            key = f"{name}_vs_{ref}"
            if key in data.get("break_even_queries", {}):
                n = data["break_even_queries"][key]
                if n is not None:
                    paybacks.append(f"against {ref} after {n:,} queries")
                elif not paid_back_only:
                    paybacks.append(f"never against {ref} (its prompt is no shorter)")
        if paybacks:
            sentence += ", paid back " + _and(paybacks)
    else:
        sentence += ", with no one-time cost"
    return sentence + "."


def verdict(data: dict) -> list[str]:
    """Which condition to use and why, in a few plain sentences, from report.json's content alone.

    Every comparison asks whether two conditions' 95% bootstrap intervals of overall accuracy
    overlap: if they do, the difference is "within noise"; if not, one is "clearly" above.

    1. If a chance level is given and every condition's interval reaches down to it, no condition
       is clearly above guessing: say so, recommend none, and give the cheapest condition's cost.
    2. Otherwise recommend the best: the highest overall accuracy (ties: the cheaper by
       `cost_order`). Say whether it is clearly above or within noise of the runner-up and of the
       cheapest condition (`cost_order`: prompt tokens per query, then one-time tokens).
    3. If the best uses retrieval (name starts with "rag") and every condition without retrieval
       is clearly below it: "Retrieval is better here"; if one is within noise: "Retrieval is not
       clearly better here".
    4. The alternative: the most accurate condition within noise of the best that is cheaper
       (`cost_order`), if any. By kind: where the best is clearly ahead of or behind it (else the
       runner-up), and the kinds where the best is not clearly above chance.
    5. Cost: the best's (and the alternative's) prompt tokens and seconds per query, one-time
       tokens and seconds, and break-even queries against icl and rag when fine-tuned.

    Args:
        data: report.json's content (conditions with acc, ci95, by_kind, cost; chance; break_even_queries).
    """
    conditions = data.get("conditions") or {}
    if not conditions:
        return ["No condition was evaluated, so there is nothing to recommend."]
    # Highest accuracy first; among equals the cheaper, then report order (sorted is stable).
    ranked = sorted(conditions, key=lambda n: (-conditions[n]["acc"], cost_order(conditions[n])))
    best, b = ranked[0], conditions[ranked[0]]
    cheapest = min(ranked, key=lambda n: cost_order(conditions[n]))
    F = lambda name: format_cell(conditions[name])  # noqa: E731
    chance = (data.get("chance") or {}).get("overall")
    if chance is not None and all(c["ci95"][0] <= chance for c in conditions.values()):
        n = (data.get("questions") or {}).get("n")
        on = f" on these {n} questions" if n else ""
        return [
            f"No condition is clearly above chance here: every overall 95% interval reaches down to chance "
            f"({chance:.2f}) or below, the highest being {best} at {F(best)}.",
            f"None can be told from guessing{on}, so this report recommends none of them.",
            _cost_sentence(data, cheapest, subject=f"The cheapest condition, {cheapest},"),
        ]
    if len(ranked) == 1:
        return [f"Use {best}: it is the only condition evaluated, at {F(best)} overall.", _cost_sentence(data, best)]

    runner = ranked[1]
    first = f"Use {best}: it scores highest overall, {F(best)}"
    also_cheapest = ", also the cheapest condition" if runner == cheapest else ""
    if overlaps(conditions[runner], b):
        first += f", but the difference from the runner-up {runner} ({F(runner)}{also_cheapest}) is within noise"
    else:
        first += f", clearly above the runner-up {runner} ({F(runner)}{also_cheapest})"
    if cheapest == best:
        first += "; it is also the cheapest condition"
    elif cheapest != runner:
        if overlaps(conditions[cheapest], b):
            first += f"; it is within noise of the cheapest condition too, {cheapest} ({F(cheapest)})"
        else:
            first += f"; the cheapest condition, {cheapest} ({F(cheapest)}), is clearly below"
    sentences = [first + "."]

    if is_retrieval(best):
        plain = [n for n in ranked if not is_retrieval(n)]
        close = [n for n in plain if overlaps(conditions[n], b)]
        if plain and not close:
            sentences.append(f"Retrieval is better here: every condition without it is clearly below {best}, "
                             f"the best of them being {plain[0]} ({F(plain[0])}).")
        elif close:
            other = close[0] if close[0] == runner else f"{close[0]} ({F(close[0])})"
            sentences.append(f"Retrieval is not clearly better here: {other}, without it, is within noise of {best}.")

    cheaper = [n for n in ranked[1:] if overlaps(conditions[n], b) and cost_order(conditions[n]) < cost_order(b)]
    alternative = cheaper[0] if cheaper else None
    kinds = _kinds_sentence(data, best, alternative or runner)
    if kinds:
        sentences.append(kinds)
    cost = _cost_sentence(data, best)
    if alternative:
        cost = cost[:-1] + "; " + _cost_sentence(data, alternative, f"{alternative}, within noise of it,", paid_back_only=True)
    sentences.append(cost)
    return sentences


def chart_caption(name: str, data: dict) -> str:
    """What a chart shows, for its caption and alt text."""
    chance = " Dashed: the accuracy of guessing." if data.get("chance") else ""
    if name.startswith("accuracy_by_kind"):
        return ("Accuracy of each condition per question kind and overall; whiskers: 95% bootstrap intervals."
                + chance.replace("Dashed:", "Dashed lines:"))
    if name.startswith("accuracy_vs_cost"):
        return ("Overall accuracy (95% bootstrap interval) against prompt tokens per query (log scale); "
                "conditions with the same cost per query, as the fine-tuned ones usually are, stand side by side."
                + chance.replace("Dashed:", "Dashed line:"))
    return Path(name).stem.replace("_", " ")


def _break_even_refs(data: dict) -> list[str]:
    return [ref for ref in BREAK_EVEN_REFERENCES if any(k.endswith(f"_vs_{ref}") for k in data["break_even_queries"])]


def _break_even_text(data: dict, name: str, ref: str) -> str:
    key = f"{name}_vs_{ref}"
    if key not in data["break_even_queries"]:
        return "–"
    n = data["break_even_queries"][key]
    return "never" if n is None else f"{n:,}"


def _uniform_n(data: dict, kind: str | None) -> int | None:
    """The number of questions of a kind (None: overall) when every condition has the same."""
    ns = {(c if kind is None else c["by_kind"].get(kind, {})).get("n") for c in data["conditions"].values()}
    return ns.pop() if len(ns) == 1 else None


def render_markdown(data: dict, charts: Sequence[str] = ()) -> str:
    kinds = kinds_of(data)
    q = data["questions"]
    sentences = data.get("verdict") or verdict(data)  # reports written before the verdict have none
    lines = [f"# adaptdocs report — {data['model']}", "", "## Verdict", "", " ".join(sentences), ""]
    lines += [
        "## Accuracy",
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
    refs = _break_even_refs(data)
    lines += [
        "",
        "## Cost",
        "",
        "| condition | prompt tokens / query | seconds / query | augment tokens | augment s | train tokens | train s | "
        + "".join(f"break-even queries vs {ref} | " for ref in refs),
        "|---|---|---|---|---|---|---|" + "---|" * len(refs),
    ]
    for name, c in data["conditions"].items():
        k = c["cost"]
        lines.append(
            f"| {name} | {k['prompt_tokens_per_query']:,.1f} | {k['seconds_per_query']:.3f} | {k['augment_tokens']:,} | "
            f"{k['augment_seconds']:.1f} | {k['train_tokens']:,} | {k['train_seconds']:.1f} | "
            + "".join(f"{_break_even_text(data, name, ref)} | " for ref in refs)
        )
    if charts:
        lines += ["", "## Charts"]
        for chart in charts:
            caption = chart_caption(Path(chart).name, data)
            lines += ["", f"![{caption}]({chart})", "", f"*{caption}*"]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in data["notes"]]
    if data["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in data["warnings"]]
    return "\n".join(lines) + "\n"


HTML_STYLE = """
body{font-family:system-ui,sans-serif;max-width:76em;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em}
.verdict{background:#f3f7fb;border-left:4px solid #3b73b9;padding:.6em 1.1em;font-size:1.05em}
.verdict h2{margin:.3em 0} .verdict p{margin:.4em 0} .meta{color:#555;font-size:.9em}
.scroll{overflow-x:auto} table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
td,th{border:1px solid #d5d5d5;padding:.3em .55em;vertical-align:top}
thead th{background:#f4f4f4;text-align:center;font-weight:600;font-size:.9em}
tbody th{text-align:left;white-space:nowrap} td{text-align:right;white-space:nowrap}
td small,th small{display:block;color:#666;font-weight:normal;font-size:.8em}
tr.chance td,tr.chance th{color:#666;font-style:italic}
figure{margin:1.2em 0} img{max-width:100%;height:auto} figcaption{color:#444;font-size:.92em;margin-top:.3em}
ul.notes{font-size:.9em;color:#444}
"""


def render_html(data: dict, chart_paths: Sequence[Path]) -> str:
    """A self-contained page: the verdict, the tables of report.md, the charts embedded as data URIs."""
    kinds = kinds_of(data)
    esc = html.escape

    def head(label: str, kind: str | None) -> str:
        n = _uniform_n(data, kind)
        return f"<th>{esc(label).replace('_', '_<wbr>')}{f'<small>n={n}</small>' if n is not None else ''}</th>"

    def cell(c: dict | None, kind: str | None) -> str:
        if not c:
            return "<td>–</td>"
        lo, hi = c["ci95"]
        n = "" if _uniform_n(data, kind) is not None else f" n={c['n']}"
        return f"<td>{c['acc']:.2f}<small>{lo:.2f}–{hi:.2f}{n}</small></td>"

    rows = []
    for name, c in data["conditions"].items():
        cells = "".join(cell(c["by_kind"].get(k), k) for k in kinds)
        rows.append(f"<tr><th>{esc(name)}</th>{cells}{cell(c, None)}<td>{c['acc_norm']:.2f}</td></tr>")
    chance = data.get("chance") or {}
    if chance:
        by_kind = chance.get("by_kind", {})
        cells = "".join(f"<td>{by_kind[k]:.2f}</td>" if k in by_kind else "<td>–</td>" for k in kinds)
        rows.append(f'<tr class="chance"><th>chance</th>{cells}<td>{chance.get("overall", 0):.2f}</td><td></td></tr>')
    refs = _break_even_refs(data)
    cost_rows = []
    for name, c in data["conditions"].items():
        k = c["cost"]
        once = [f"{k['augment_tokens']:,}", f"{k['augment_seconds']:,.1f}", f"{k['train_tokens']:,}", f"{k['train_seconds']:,.1f}"]
        if not (k["augment_tokens"] or k["train_tokens"] or k["augment_seconds"] or k["train_seconds"]):
            once = ["–"] * 4  # no one-time cost
        cost_rows.append(
            f"<tr><th>{esc(name)}</th><td>{k['prompt_tokens_per_query']:,.1f}</td><td>{k['seconds_per_query']:.3f}</td>"
            + "".join(f"<td>{v}</td>" for v in once)
            + "".join(f"<td>{_break_even_text(data, name, ref)}</td>" for ref in refs) + "</tr>"
        )
    figures = []
    for p in chart_paths:
        caption = esc(chart_caption(p.name, data))
        figures.append(
            f'<figure><img alt="{caption}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    verdict_html = "".join(f"<p>{esc(s)}</p>" for s in (data.get("verdict") or verdict(data)))
    notes = "".join(f"<li>{esc(n)}</li>" for n in data["notes"])
    warnings = "".join(f"<li>{esc(w)}</li>" for w in data["warnings"])
    q = data["questions"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>adaptdocs report — {esc(data['model'])}</title>
<style>{HTML_STYLE}</style></head><body>
<h1>adaptdocs report — {esc(data['model'])}</h1>
<section class="verdict"><h2>Verdict</h2>{verdict_html}</section>
<h2>Accuracy</h2>
<p class="meta">Questions: <code>{esc(str(q['path']))}</code>, {q['n']} questions. Created {esc(data['created_at'])}.
Each cell: accuracy, and below it the 95% bootstrap interval ({data['bootstrap_resamples']} resamples,
seed {data['seed']}); n: questions per kind.</p>
<div class="scroll"><table><thead><tr><th>condition</th>{''.join(head(k, k) for k in kinds)}{head('overall', None)}
<th>acc_norm</th></tr></thead><tbody>
{''.join(rows)}</tbody></table></div>
<h2>Cost</h2>
<div class="scroll"><table><thead><tr><th>condition</th><th>prompt tokens<br>/ query</th><th>seconds<br>/ query</th>
<th>augment<br>tokens</th><th>augment<br>seconds</th><th>train<br>tokens</th><th>train<br>seconds</th>
{''.join(f'<th>break-even<br>queries vs {esc(ref)}</th>' for ref in refs)}</tr></thead><tbody>
{''.join(cost_rows)}</tbody></table></div>
<h2>Charts</h2>
{''.join(figures)}
<h2>Notes</h2><ul class="notes">{notes}</ul>
{f'<h2>Warnings</h2><ul>{warnings}</ul>' if warnings else ''}
</body></html>
"""


MARKERS = "osD^vP*Xh<>p"


def _styles(names: Sequence[str]) -> dict[str, dict]:
    """One colour and marker per condition, the same in every chart."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: {"color": cmap(i % cmap.N), "marker": MARKERS[i % len(MARKERS)]} for i, name in enumerate(names)}


def _dodge(xs: Sequence[float], step: float = 0.045) -> list[float]:
    """Spread equal x values (on a log axis) side by side, `step` decades apart, centred on the value."""
    groups: dict[float, list[int]] = {}
    for i, x in enumerate(xs):
        groups.setdefault(x, []).append(i)
    out = list(xs)
    for x, members in groups.items():
        for j, i in enumerate(members):
            out[i] = x * 10 ** ((j - (len(members) - 1) / 2) * step)
    return out


def render_charts(data: dict, folder: Path) -> list[Path]:
    """accuracy_by_kind.png (bars with interval whiskers) and accuracy_vs_cost.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = kinds_of(data) + ["overall"]
    names = list(data["conditions"])
    styles = _styles(names)
    chance = data.get("chance") or {}
    width = 0.84 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(min(13, max(7, 0.16 * len(names) * len(kinds) + 3)), 4.6))
    for i, name in enumerate(names):
        c = data["conditions"][name]
        cells = [c["by_kind"].get(k) if k != "overall" else c for k in kinds]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(kinds))]
        accs = [cell["acc"] if cell else 0.0 for cell in cells]
        errs = [
            [cell["acc"] - cell["ci95"][0] if cell else 0.0 for cell in cells],
            [cell["ci95"][1] - cell["acc"] if cell else 0.0 for cell in cells],
        ]
        ax.bar(xs, accs, width, yerr=errs, capsize=1.5, error_kw={"elinewidth": 0.8, "ecolor": "#333"},
               label=name, color=styles[name]["color"])
    for j, k in enumerate(kinds):
        p = chance.get("by_kind", {}).get(k) if k != "overall" else chance.get("overall")
        if p is not None:
            ax.hlines(p, j - 0.45, j + 0.45, colors="black", linestyles="dashed", linewidth=1, zorder=3)
    ax.set_xticks(range(len(kinds)), [k.replace("_", "\n") for k in kinds])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_title("Accuracy by question kind" + (" (dashed: chance)" if chance else ""))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    by_kind_path = folder / "accuracy_by_kind.png"
    fig.savefig(by_kind_path, dpi=100)
    plt.close(fig)

    # Fine-tuned conditions share the base model's prompt, so several points sit at one cost:
    # they are dodged side by side and named by a legend of distinct markers, not by labels.
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    xs = _dodge([data["conditions"][n]["cost"]["prompt_tokens_per_query"] for n in names])
    for name, x in zip(names, xs):
        c = data["conditions"][name]
        ax.errorbar([x], [c["acc"]], yerr=[[c["acc"] - c["ci95"][0]], [c["ci95"][1] - c["acc"]]], capsize=3,
                    linestyle="none", markersize=7, label=name, **styles[name])
    if chance.get("overall") is not None:
        ax.axhline(chance["overall"], color="grey", linestyle="dashed", linewidth=1, label="chance")
    ax.set_xscale("log")
    ax.margins(x=0.12)
    ax.set_xlabel("prompt tokens per query (log scale)")
    ax.set_ylabel("overall accuracy (95% interval)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Accuracy against per-query cost")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "chance")  # conditions first, in report order
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize="small", loc="upper left",
              bbox_to_anchor=(1.01, 1), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
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
