"""What a workspace holds, and what is stale.

Staleness follows from content hashes, never from timestamps:
- an augmentation item is stale when a document it was made from is no longer stored (the file
  changed or was pruned), or, for `global`, when the corpus as a whole changed;
- an adapter is stale when the training set it was trained on would now come out different.
"""

from __future__ import annotations

import json
from collections import defaultdict

from .errors import AdaptdocsError
from .workspace import Workspace


def workspace_status(ws: Workspace) -> dict:
    """A summary of the workspace: corpus counts, failures, augmented sets, adapters, reports.

    Args:
        ws: the workspace.
    """
    store = ws.store
    counts = store.counts()
    return {
        "workspace": str(ws.root),
        "corpus": {k: counts[k] for k in ("documents", "elements", "sentences", "failures")},
        "failures": [{k: f[k] for k in ("path", "error", "hint")} for f in store.failures()],
        "augmented": augmented_status(store),
        "adapters": adapter_status(ws),
        # Dot folders are reports still being written (or left by a kill), not reports.
        "reports": sorted(p.name for p in ws.reports_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if ws.reports_dir.is_dir() else [],
    }


def augmented_status(store) -> dict[str, dict]:
    """Per strategy: examples stored, items done, and items stale."""
    document_ids = set(store.document_paths().values())
    corpus_hash = store.corpus_hash()
    result: dict[str, dict] = defaultdict(lambda: {"examples": 0, "items": 0, "stale_items": 0})
    for item in store.augment_items():
        entry = result[item["strategy"]]
        entry["items"] += 1
        sources = set(json.loads(item["document_ids"] or "[]"))
        if not sources <= document_ids or (item["strategy"] == "global" and item["corpus_hash"] != corpus_hash):
            entry["stale_items"] += 1
    for example in store.examples():
        result[example["strategy"]]["examples"] += 1
    return dict(sorted(result.items()))


def adapter_status(ws: Workspace) -> list[dict]:
    """Every adapter with its `adaptdocs.json`, and whether its training set has changed since."""
    adapters = []
    for meta_path in sorted(ws.adapters_dir.glob("*/adaptdocs.json")) if ws.adapters_dir.is_dir() else []:
        if meta_path.parent.name.startswith("."):  # a temporary folder left by a killed save, not an adapter
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            adapters.append({"data": meta_path.parent.name, "steps": None, "final_loss": None, "stale": True})
            continue
        training_set = meta.get("training_set") or {}
        data = training_set.get("name") or meta_path.parent.name
        adapters.append(
            {
                "data": data,
                "steps": meta.get("steps"),
                "final_loss": meta.get("final_loss"),
                "stale": _training_set_changed(ws, data, training_set),
            }
        )
    return adapters


def _training_set_changed(ws: Workspace, data: str, recorded: dict) -> bool:
    try:
        from .training_data import build_training_set
    except ImportError:  # training is an optional stage: without it nothing can be judged stale
        return False
    if not recorded.get("sha256"):
        return True
    try:
        current = build_training_set(ws, data, recorded.get("split") or "independent")
    except AdaptdocsError:  # an unknown training set name or split: it cannot be rebuilt as recorded
        return True
    return current.sha256 != recorded["sha256"]
