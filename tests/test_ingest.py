"""Ingest: every format, every bad input, incremental runs, the process pool, and a real kill."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from adaptdocs.cli import app
from adaptdocs.config import IngestConfig
from adaptdocs.ingest import (
    ParseJob,
    Parsed,
    Problem,
    ingest_paths,
    parse_all,
    parse_document,
    reflow_pdf_lines,
    split_sentences,
    table_sentences,
)
from adaptdocs.workspace import Workspace

runner = CliRunner()

HTML = """<html><body>
<h1>Tool catalogue</h1>
<p>Every tool has one owner. Ask the owner first.</p>
<h2>Core tools</h2>
<table>
<tr><th>Tool</th><th>Owner</th></tr>
<tr><td>Krimbo</td><td>Ispaneth</td></tr>
<tr><td>Plosk</td><td>Mubadra</td></tr>
</table>
<h2>Retired tools</h2>
<ul><li>Vendrak was retired in May.</li><li>Oskrel was retired in June.</li></ul>
</body></html>
"""

MARKDOWN = """# Onboarding

Welcome to Thrennik. This guide covers your first week.

## Accounts

- Collect your badge from the front desk.
- Set up your password manager.

The Mirrowd tool is owned by the Korbulo team.
"""


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Organisation chart", 0)
    document.add_heading("Leads", 1)
    document.add_paragraph("Team leads approve all access requests.")
    document.add_paragraph("The Mubadra team is led by Yarvel Tumsk.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for cell, text in zip(table.rows[0].cells + table.rows[1].cells, ["Tool", "Owner", "Krimbo", "Ispaneth"]):
        cell.text = text
    document.save(path)
    return path


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    for lines in pages:
        y = 800
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


def make_scanned_pdf(path: Path) -> Path:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    pdf.rect(72, 600, 300, 150, fill=1)  # an image of a page, no text layer
    pdf.showPage()
    pdf.save()
    return path


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "onboarding.md").write_text(MARKDOWN)
    (folder / "catalogue.html").write_text(HTML)
    (folder / "notes.txt").write_text("MEETING NOTES\n\nThe Snelby tool is owned by the Zarnoth team. Snelby is used for billing.\n")
    make_docx(folder / "org.docx")
    make_pdf(
        folder / "servers.pdf",
        [["Server inventory", "Tolvrik is a Krelvash server. Wezzick is a Krelvash", "server."],
         ["Capacity", "The Tolvrik server is bigger than the Nuxom server."]],
    )
    return folder


def ingest_json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["ingest", *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def sentences_of(ws: Workspace, name: str) -> list[dict]:
    return list(
        ws.store.db.query(
            "select s.*, e.type, e.page, e.heading_path from sentences s join elements e on e.id = s.element_id "
            "join documents d on d.id = s.document_id where d.relpath = ? order by s.ord",
            [name],
        )
    )


def test_every_format(tmp_path, workspace_env):
    corpus = make_corpus(tmp_path / "docs")
    code, data = ingest_json(str(corpus), "--workers", "1")
    assert code == 0
    assert (data["ingested"], data["failed"], data["skipped"]) == (5, 0, 0), data["problems"]
    ws = Workspace(workspace_env)
    docs = {r["relpath"]: r for r in ws.store.db["documents"].rows}
    assert set(docs) == {"onboarding.md", "catalogue.html", "notes.txt", "org.docx", "servers.pdf"}
    assert {r["format"] for r in docs.values()} == {"md", "html", "txt", "docx", "pdf"}
    assert data["sentences"] == ws.store.counts()["sentences"]

    html = sentences_of(ws, "catalogue.html")
    texts = [s["text"] for s in html]
    assert "Tool: Krimbo. Owner: Ispaneth." in texts and "Tool: Plosk. Owner: Mubadra." in texts
    assert texts[:2] == ["Every tool has one owner.", "Ask the owner first."]
    assert "Tool catalogue" not in texts  # titles are elements, not sentences
    retired = [s for s in html if s["type"] == "ListItem"]
    assert [s["context"] for s in retired] == ["Retired tools", "Retired tools"]
    assert retired[0]["heading_path"] == "Tool catalogue > Retired tools"
    table = next(ws.store.db.query("select * from elements where type = 'Table'"))
    assert "<table>" in table["html"] and table["text"]

    md = sentences_of(ws, "onboarding.md")
    badge = next(s for s in md if s["text"] == "Collect your badge from the front desk.")
    assert (badge["context"], badge["heading_path"]) == ("Accounts", "Onboarding > Accounts")
    doc_id = docs["onboarding.md"]["id"]
    assert badge["id"].startswith(f"{doc_id[:16]}:e") and badge["id"].endswith(":s0")
    assert badge["element_id"] == badge["id"].rsplit(":", 1)[0]

    assert "Tool: Krimbo. Owner: Ispaneth." in [s["text"] for s in sentences_of(ws, "org.docx")]
    assert "The Mubadra team is led by Yarvel Tumsk." in [s["text"] for s in sentences_of(ws, "org.docx")]
    pdf = sentences_of(ws, "servers.pdf")
    assert [(s["text"], s["page"]) for s in pdf] == [
        ("Tolvrik is a Krelvash server.", 1),
        ("Wezzick is a Krelvash server.", 1),
        ("The Tolvrik server is bigger than the Nuxom server.", 2),
    ]
    assert pdf[-1]["heading_path"] == "Capacity"
    assert [s["text"] for s in sentences_of(ws, "notes.txt")] == [
        "The Snelby tool is owned by the Zarnoth team.", "Snelby is used for billing."
    ]


def test_bad_inputs_each_get_one_line_and_the_run_goes_on(tmp_path, workspace_env):
    docs = tmp_path / "bad"
    docs.mkdir()
    (docs / "good.md").write_text(MARKDOWN)
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    make_scanned_pdf(docs / "scanned.pdf")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (docs / "latin1.txt").write_bytes("Le café de Zanquil ouvre à sept heures.\n".encode("latin-1"))
    (docs / "big.md").write_text("Big words here. " * 300)
    (docs / "picture.xyz").write_bytes(b"\x89PNG")
    os.symlink(docs / "loop_b.txt", docs / "loop_a.txt")
    os.symlink(docs / "loop_a.txt", docs / "loop_b.txt")
    (docs / "sub").mkdir()
    os.symlink(docs, docs / "sub" / "again")
    missing = tmp_path / "nowhere.md"

    code, data = ingest_json(str(docs), str(missing), "--workers", "1", "--max-bytes", "2000")
    assert code == 0
    assert data["ingested"] == 2  # good.md and latin1.txt
    errors = {Path(p["path"]).name: p for p in data["problems"]}
    expected = {
        "corrupt.pdf": "not a readable PDF",
        "scanned.pdf": "no text layer (scanned?)",
        "empty.txt": "empty file",
        "binary.txt": "binary content",
        "big.md": "over the limit",
        "picture.xyz": "unsupported format .xyz",
        "loop_a.txt": "symlink loop",
        "loop_b.txt": "symlink loop",
        "again": "symlink loop",
        "nowhere.md": "no such file",
    }
    for name, error in expected.items():
        assert error in errors[name]["error"], (name, errors[name])
        assert errors[name]["hint"]
    assert "OCR" in errors["scanned.pdf"]["hint"] and "--max-bytes" in errors["big.md"]["hint"]
    assert errors["picture.xyz"]["kind"] == "skipped" and errors["nowhere.md"]["kind"] == "missing"
    ws = Workspace(workspace_env)
    latin = sentences_of(ws, "latin1.txt")
    assert latin[0]["text"] == "Le café de Zanquil ouvre à sept heures."
    assert {Path(f["path"]).name for f in ws.store.failures()} >= {"corrupt.pdf", "scanned.pdf", "empty.txt", "big.md"}

    strict = runner.invoke(app, ["ingest", str(docs), "--workers", "1", "--max-bytes", "2000", "--strict"])
    assert strict.exit_code == 1
    assert "scanned.pdf: no text layer (scanned?)" in " ".join(strict.stdout.split())  # the human summary
    assert ws.store.counts()["documents"] == 2  # nothing already ingested is lost


def test_exit_codes_for_nothing_ingested_and_missing_paths(tmp_path):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "broken.pdf").write_bytes(b"not a pdf")
    assert runner.invoke(app, ["ingest", str(tmp_path / "only"), "--workers", "1"]).exit_code == 1
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), str(tmp_path / "nope2")])
    assert missing.exit_code == 2 and "no such file" in " ".join(missing.stdout.split())


def test_unreadable_file(tmp_path, workspace_env, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text(MARKDOWN)
    secret = docs / "secret.md"
    secret.write_text("Secret text. Nobody reads it.")
    if os.geteuid() != 0:  # root reads anything: simulate the refusal instead
        secret.chmod(0)
    else:
        real_read = Path.read_bytes
        monkeypatch.setattr(Path, "read_bytes", lambda p: (_ for _ in ()).throw(PermissionError(13, "denied"))
                            if p.name == "secret.md" else real_read(p))
    summary = ingest_paths(Workspace(workspace_env), [docs], IngestConfig(workers=1))
    assert summary.ingested == [str((docs / "a.md").resolve())]
    (problem,) = summary.problems
    assert problem.error == "permission denied" and "chmod" in problem.hint
    secret.chmod(0o644)


def test_incremental_reingest_and_prune(tmp_path, workspace_env):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.md").write_text(MARKDOWN)
    (corpus / "b.txt").write_text("The Snelby tool is owned by the Zarnoth team.")
    ws = Workspace(workspace_env)
    config = IngestConfig(workers=1)
    first = ingest_paths(ws, [corpus], config)
    assert len(first.ingested) == 2
    before = {r["id"]: r["ingested_at"] for r in ws.store.db["documents"].rows}
    old_ids = {s.id for s in ws.store.sentences()}

    again = ingest_paths(ws, [corpus], config)
    assert (len(again.ingested), len(again.unchanged)) == (0, 2)
    assert again.exit_code() == 0
    assert {r["id"]: r["ingested_at"] for r in ws.store.db["documents"].rows} == before

    (corpus / "a.md").write_text(MARKDOWN.replace("Korbulo", "Fenwick"))
    changed = ingest_paths(ws, [corpus], config)
    assert len(changed.ingested) == 1
    assert ws.store.counts()["documents"] == 2
    assert any("Fenwick" in s.text for s in ws.store.sentences())
    assert not any("Korbulo" in s.text for s in ws.store.sentences())
    assert {s.id for s in ws.store.sentences()} != old_ids

    # A file that turns bad keeps its last good version; the failure is recorded.
    (corpus / "b.txt").write_bytes(b"\x00\x01\x02 binary now")
    broken = ingest_paths(ws, [corpus], config)
    assert broken.failed and ws.store.counts()["documents"] == 2
    assert ws.store.failures()[0]["path"].endswith("b.txt")

    (corpus / "b.txt").unlink()
    gone = ingest_paths(ws, [corpus], config)
    assert [Path(p).name for p in gone.disappeared] == ["b.txt"] and ws.store.counts()["documents"] == 2
    pruned = runner.invoke(app, ["ingest", str(corpus), "--prune", "--json", "--workers", "1"])
    assert [Path(p).name for p in json.loads(pruned.stdout)["files"]["removed"]] == ["b.txt"]
    assert ws.store.counts()["documents"] == 1
    assert ws.store.counts()["failures"] == 0


def test_identical_files_are_stored_once_and_a_moved_file_keeps_its_id(tmp_path, workspace_env):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("The Snelby tool is owned by the Zarnoth team.")
    (corpus / "b.txt").write_text("The Snelby tool is owned by the Zarnoth team.")
    ws = Workspace(workspace_env)
    first = ingest_paths(ws, [corpus], IngestConfig(workers=1))
    assert len(first.ingested) == 1 and "same content as" in first.skipped[0].error
    (corpus / "a.txt").rename(corpus / "c.txt")
    (corpus / "b.txt").unlink()
    moved = ingest_paths(ws, [corpus], IngestConfig(workers=1))
    assert [Path(p).name for p in moved.ingested] == ["c.txt"] and not moved.disappeared
    assert ws.store.counts()["documents"] == 1


def crashing_parse(job: ParseJob):
    """A parser that kills its process on one file, as a segfaulting native library would."""
    if job.path.endswith("crash.md"):
        os._exit(3)
    return parse_document(job)


def test_process_pool_survives_a_worker_crash(tmp_path, workspace_env):
    jobs = [ParseJob(f"/x/{i}.md", "md", f"{i:064d}", MARKDOWN.encode()) for i in range(5)]
    jobs.insert(2, ParseJob("/x/crash.md", "md", "f" * 64, MARKDOWN.encode()))
    results = dict((job.path, result) for job, result in parse_all(jobs, 2, parse=crashing_parse))
    assert set(results) == {job.path for job in jobs}
    assert isinstance(results["/x/crash.md"], Problem) and "crashed" in results["/x/crash.md"].error
    assert all(isinstance(r, Parsed) for p, r in results.items() if p != "/x/crash.md")

    corpus = make_corpus(tmp_path / "docs")
    pooled = ingest_paths(Workspace(workspace_env), [corpus], IngestConfig(workers=2))
    single = ingest_paths(Workspace(tmp_path / "ws1"), [corpus], IngestConfig(workers=1))
    assert len(pooled.ingested) == 5 and (pooled.elements, pooled.sentences) == (single.elements, single.sentences)


NO_NETWORK = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network disabled by the test")
socket.socket.connect = refuse
socket.create_connection = refuse
from adaptdocs.cli import main
sys.argv = ["adaptdocs", *sys.argv[1:]]
main()
"""


def test_kill_and_rerun_leaves_a_consistent_store(tmp_path):
    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(80):
        (corpus / f"doc{i:03d}.txt").write_text(f"NOTE {i}\n\nThe tool T{i} is owned by team N{i}. It is used for task {i}.\n")
    killed_ws, clean_ws = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "ADAPTDOCS_WORKSPACE": str(killed_ws)}
    process = subprocess.Popen(
        [sys.executable, "-m", "adaptdocs", "ingest", str(corpus), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    stored = 0
    while time.time() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(killed_ws / "adaptdocs.db", timeout=1) as db:
                stored = db.execute("select count(*) from documents").fetchone()[0]
        except sqlite3.Error:
            stored = 0
        if stored >= 5:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 5 <= stored < 80, "the kill should land mid-run"

    # The rerun finishes the job, here with the network disabled: nothing may be downloaded.
    rerun = subprocess.run([sys.executable, "-c", NO_NETWORK, "ingest", str(corpus), "--workers", "1", "--json"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    data = json.loads(rerun.stdout)
    assert data["unchanged"] >= 5 and data["ingested"] + data["unchanged"] == 80

    clean = ingest_paths(Workspace(clean_ws), [corpus], IngestConfig(workers=1))
    killed = Workspace(killed_ws).store
    for table in ("documents", "elements", "sentences"):
        assert killed.counts()[table] == Workspace(clean_ws).store.counts()[table]
    assert killed.db.execute("select count(distinct path) from documents").fetchone()[0] == 80
    assert sorted(s.id for s in killed.sentences()) == sorted(s.id for s in Workspace(clean_ws).store.sentences())
    assert len(clean.ingested) == 80


def test_sentence_splitting_tables_and_pdf_reflow():
    assert split_sentences("Dr. Smith leads Plosk. It runs e.g. reports! Does it? Yes.") == [
        "Dr. Smith leads Plosk.", "It runs e.g. reports!", "Does it?", "Yes."
    ]
    assert split_sentences("Version 2.5 is out. 3 tools use it.") == ["Version 2.5 is out.", "3 tools use it."]
    html = "<table><tr><td>Tool</td><td>Owner</td><td>Note</td></tr><tr><td>Krimbo</td><td></td><td>Old.</td></tr></table>"
    assert table_sentences(html) == ["Tool: Krimbo. Note: Old."]
    text = "Backup policy\nAll Dunmoor machines are backed up nightly. All Skelvy machines are\nbacked up weekly.\n- one\n- two"
    assert reflow_pdf_lines(text) == [
        "Backup policy",
        "All Dunmoor machines are backed up nightly. All Skelvy machines are backed up weekly.",
        "- one",
        "- two",
    ]
