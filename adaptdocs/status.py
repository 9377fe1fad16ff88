"""What a workspace holds, and what is stale, with the input that changed.

Currency is decided by `lineage` alone, so status says "current" exactly where `compare` and
`train`, run with the same settings, would not redo the work.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace

from .config import TRAINING_SETS, TrainConfig
from .lineage import CorpusState, adapter_currency, document_currency, item_currency, report_currency
from .workspace import Workspace


def workspace_status(ws: Workspace, train: TrainConfig | None = None) -> dict:
    """A summary of the workspace: corpus counts, failures, augmented sets, adapters, reports.

    Args:
        ws: the workspace.
        train: the training settings adapters are judged against (default: TrainConfig's defaults,
            which is what `compare` trains with).
    """
    store = ws.store
    counts = store.counts()
    state = CorpusState(store)
    return {
        "workspace": str(ws.root),
        "corpus": {k: counts[k] for k in ("documents", "elements", "sentences", "failures")},
        "failures": [{k: f[k] for k in ("path", "error", "hint")} for f in store.failures()],
        "changed_documents": [c for row in store.db["documents"].rows for c in document_currency(row).changed],
        "augmented": augmented_status(store, state),
        "adapters": adapter_status(ws, train or TrainConfig(), state),
        "reports": report_status(ws),
    }


def augmented_status(store, state: CorpusState) -> dict[str, dict]:
    """Per strategy: examples stored, items done, items stale, and why they are stale."""
    result: dict[str, dict] = defaultdict(lambda: {"examples": 0, "items": 0, "stale_items": 0, "stale_because": {}})
    for item in store.augment_items():
        entry = result[item["strategy"]]
        entry["items"] += 1
        currency = item_currency(item, state)
        if not currency.current:
            entry["stale_items"] += 1
            for reason in currency.changed:
                entry["stale_because"][reason] = entry["stale_because"].get(reason, 0) + 1
    for example in store.examples():
        result[example["strategy"]]["examples"] += 1
    return dict(sorted(result.items()))


def adapter_status(ws: Workspace, train: TrainConfig, state: CorpusState) -> list[dict]:
    """Every adapter with its record, whether it is current, what changed, and the documents it learned."""
    adapters = []
    for data in TRAINING_SETS:
        if not ws.adapter_dir(data).is_dir():
            continue
        judged = adapter_currency(ws, replace(train, data=data), state)
        record = judged.record or {}
        training_set = record.get("training_set") or {}
        adapters.append(
            {
                "data": data,
                "steps": record.get("steps"),
                "final_loss": record.get("final_loss"),
                "stale": not judged.currency.current,
                "changed": judged.currency.changed,
                "composition": training_set.get("composition", {}),
                "documents": [state.relpaths.get(d, f"{d[:12]} (no longer stored)") for d in training_set.get("documents", [])],
            }
        )
    return adapters


def report_status(ws: Workspace) -> list[dict]:
    """Every finished report (dot folders are still being written), and whether it still describes the workspace."""
    if not ws.reports_dir.is_dir():
        return []
    reports = []
    for folder in sorted(p for p in ws.reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            reports.append({"name": folder.name, "stale": True, "changed": ["report.json is missing or unreadable"]})
            continue
        currency = report_currency(ws, data)
        reports.append({"name": folder.name, "stale": not currency.current, "changed": currency.changed})
    return reports
