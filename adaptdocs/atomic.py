"""Writes that are never seen half-done: a temporary file or folder beside the target, renamed
into place when complete (a rename within one file system is atomic), so a kill or Ctrl-C at any
moment leaves either the old output or the new one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temp_dir(parent: Path, prefix: str) -> Path:
    """A fresh directory beside its final place (same file system, so the rename is atomic)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o755)  # mkdtemp makes it private; outputs are ordinary folders
    return path


def replace_dir(new: Path, target: Path) -> None:
    """Put directory `new` at `target`, replacing what is there; at every moment one complete copy exists."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def publish_dir(new: Path, target: Path) -> bool:
    """Rename `new` to `target` unless another process put a complete copy there first (then drop `new`).

    Returns whether `new` was published. For caches, where any complete copy will do.
    """
    try:
        os.rename(new, target)
        return True
    except OSError:
        shutil.rmtree(new, ignore_errors=True)
        if not target.is_dir():
            raise
        return False
