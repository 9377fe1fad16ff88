"""Prompt templates: TOML data files in the repository's `templates/` folder.

A template file declares its `mode` ("completion": the text is sent as is; "chat": the text is
the user message, rendered through the model's chat template), its `text` with `$name`
placeholders (string.Template), and generation settings where it is used for generation.
"""

from __future__ import annotations

import os
import string
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AdaptdocsError



def _templates_dir() -> Path:
    if "ADAPTDOCS_TEMPLATES" in os.environ:
        return Path(os.environ["ADAPTDOCS_TEMPLATES"])
    in_repository = Path(__file__).resolve().parent.parent / "templates"  # editable install, checkout
    return in_repository if in_repository.is_dir() else Path(sys.prefix) / "share" / "adaptdocs" / "templates"


TEMPLATES_DIR = _templates_dir()
OUTPUTS = ("statements", "question_answer", "list", "chain", "record", "closure", "comparison")


@dataclass
class PromptTemplate:
    name: str
    text: str
    mode: str = "completion"
    purpose: str = ""
    stop: list[str] = field(default_factory=list)
    max_new_tokens: int = 64
    system: str | None = None
    # What a generating template writes: "statements" (one or more sentences),
    # "question_answer" (lines "Q: <question>? A: <answer>"), "list" (lines "Question:",
    # "How many:", "All:", "First:"; augment_lists.py) or "chain" (a statement, then Q/A lines;
    # augment_chains.py); "record": nothing, the rule of augment_records.py writes from `forms`.
    output: str = "statements"
    # Texts a rule fills in, by name ($name placeholders, like `text`).
    forms: dict[str, str] = field(default_factory=dict)

    def render(self, model=None, **values: str) -> str:
        """Fill the placeholders; in chat mode, wrap through `model`'s chat template."""
        try:
            body = string.Template(self.text).substitute(values)
        except KeyError as e:
            raise AdaptdocsError(f"template {self.name} needs a value for {e}") from None
        if self.mode == "completion":
            return body
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": body}
        ]
        return model.apply_chat_template(messages)


def load_template(name: str, directory: Path | None = None) -> PromptTemplate:
    """Load `templates/<name>.toml`."""
    path = (directory or TEMPLATES_DIR) / f"{name}.toml"
    if not path.exists():
        raise AdaptdocsError(f"no template {name!r} at {path}", "check ADAPTDOCS_TEMPLATES or the templates/ folder")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise AdaptdocsError(f"template {path} is not valid TOML: {e}") from None
    if data.get("mode", "completion") not in ("completion", "chat"):
        raise AdaptdocsError(f"template {path}: mode must be 'completion' or 'chat'")
    if data.get("output", "statements") not in OUTPUTS:
        raise AdaptdocsError(f"template {path}: output must be one of {', '.join(OUTPUTS)}")
    return PromptTemplate(name=name, **data)
