"""The workspace: one directory holding the database, adapters and reports."""

from __future__ import annotations

import os
from pathlib import Path

from sqlite_utils import Database

from .errors import AdaptdocsError
from .migrations import migrations
from .store import Store

DEFAULT_WORKSPACE = ".adaptdocs"


def default_workspace_path() -> Path:
    return Path(os.environ.get("ADAPTDOCS_WORKSPACE", DEFAULT_WORKSPACE))


class Workspace:
    """A workspace directory: `adaptdocs.db`, `adapters/`, `reports/`, `exports/`.

    Args:
        root: the directory; created if missing.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_workspace_path()
        if self.root.exists() and not self.root.is_dir():
            raise AdaptdocsError(f"workspace {self.root} is not a directory", "pass another --workspace")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "adaptdocs.db"
        db = Database(self.db_path)
        # WAL lets a reader (status) run beside a writer; a killed writer leaves no partial transaction.
        db.execute("pragma journal_mode = wal")
        db.execute("pragma busy_timeout = 10000")
        migrations.apply(db)
        self.store = Store(db)

    @property
    def adapters_dir(self) -> Path:
        return self.root / "adapters"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def adapter_dir(self, data: str) -> Path:
        return self.adapters_dir / data

    def require_documents(self) -> None:
        if self.store.counts()["documents"] == 0:
            raise AdaptdocsError(
                f"workspace {self.root} holds no documents", "run `adaptdocs ingest PATH` first"
            )
