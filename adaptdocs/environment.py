"""The process settings adaptdocs runs under: offline (no hub downloads, no telemetry) and quiet.

Set explicitly by the entry points (the CLI) and by the functions that import the libraries
reading them, before those imports; `setdefault`, so a user's own settings win.
"""

from __future__ import annotations

import os

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
    "TOKENIZERS_PARALLELISM": "false",
    # unstructured prints a usage banner to stdout on first use, which would corrupt `--json`
    # output; parser processes started later inherit it.
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}


def use_offline_environment() -> None:
    """Set the offline and quiet variables (where unset) before heavy libraries are imported."""
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
