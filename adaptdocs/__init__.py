"""adaptdocs: teach a local language model your documents, and measure how well it learned them."""

import os

# Offline by design: no hub downloads, no telemetry. Set before any heavy import reads them.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_name, _value)

from .errors import AdaptdocsError  # noqa: E402
from .workspace import Workspace  # noqa: E402

__version__ = "0.1.0"

__all__ = ["AdaptdocsError", "Workspace", "__version__"]
