"""`adaptdocs compare` through the CLI: bad input, warnings, and an end-to-end run on a tiny model."""

from __future__ import annotations

import conftest

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptdocs.cli import app
from adaptdocs.errors import AdaptdocsError
from adaptdocs.workspace import Workspace

runner = CliRunner()

FACTS = {
    "teams.md": [
        "The Plosk tool is owned by the Mubadra team.",
        "The Krimbo tool is owned by the Ispaneth team.",
        "Fenwick Plosk leads the Trimbelo team.",
    ],
    "ops/backups.md": ["Backups of the Krelvash servers run every night at two o'clock."],
}
QUESTIONS = [
    {"id": "q1", "question": "Which team owns the Plosk tool?", "choices": ["Mubadra", "Ispaneth", "Trimbelo"],
     "answer": 0, "kind": "rephrase", "sources": ["teams.md"]},
    {"id": "q2", "question": "The Ispaneth team owns the", "choices": ["Krimbo tool", "Plosk tool"], "answer": 0,
     "kind": "reversal", "style": "cloze", "sources": ["backups.md"]},
    {"id": "q3", "question": "Who leads the Trimbelo team?", "choices": ["Fenwick Plosk", "Osk"], "answer": "Fenwick Plosk",
     "kind": "reversal"},
]


def store_corpus(root: Path, facts: dict[str, list[str]] = FACTS) -> Workspace:
    return conftest.store_corpus(root, facts)


def write_questions(path: Path, lines: list) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_empty_workspace_says_run_ingest_first(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    result = runner.invoke(app, ["compare", "--questions", str(questions), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 1
    assert isinstance(result.exception, AdaptdocsError) and "ingest" in str(result.exception)


def test_strict_stops_at_the_first_malformed_line(tmp_path):
    store_corpus(tmp_path / "ws")
    questions = write_questions(tmp_path / "q.jsonl", [QUESTIONS[0], "{not json", QUESTIONS[1]])
    result = runner.invoke(app, ["compare", "--questions", str(questions), "-w", str(tmp_path / "ws"), "--strict"])
    assert result.exit_code == 1
    assert "line 2" in str(result.exception)


def test_unknown_condition_is_refused(tmp_path):
    store_corpus(tmp_path / "ws")
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    result = runner.invoke(app, ["compare", "-q", str(questions), "-w", str(tmp_path / "ws"), "--conditions", "base,retrieval"])
    assert result.exit_code == 1 and "--conditions" in str(result.exception)


def test_bad_lines_skipped_and_warnings_reported(tmp_path, tiny_model_dir):
    store_corpus(tmp_path / "ws")
    leak = {"id": "q4", "question": "The Krimbo tool is owned by the Ispaneth team", "choices": ["yes", "no"],
            "answer": 0, "kind": "recall", "sources": ["nowhere.md"]}
    # A cloze recall question completes a document's sentence by design: no warning for it.
    stated = {"id": "q5", "question": "The Plosk tool is owned by the", "choices": ["Mubadra team", "Ispaneth team"],
              "answer": 0, "kind": "recall", "style": "cloze"}
    questions = write_questions(tmp_path / "q.jsonl", [QUESTIONS[0], "{not json", QUESTIONS[1], QUESTIONS[2],
                                                       {"id": "bad", "question": "x"}, leak, stated])
    result = runner.invoke(
        app,
        ["compare", "-q", str(questions), "-w", str(tmp_path / "ws"), "--model", str(tiny_model_dir),
         "--conditions", "base", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    warnings = "\n".join(data["warnings"])
    assert "line 2" in warnings and "line 5" in warnings
    assert "question q4: unknown source nowhere.md" in warnings and "question q1" not in warnings
    assert "backups.md" not in warnings  # a file name of a stored document (ops/backups.md) is known
    assert "verbatim" in warnings and "q4" in warnings and "q5" not in warnings
    assert data["questions"]["n"] == 5
    assert list(data["conditions"]) == ["base"]
    assert data["conditions"]["base"]["n"] == 5
    assert Path(data["report_path"], "report.json").is_file()


def test_end_to_end_base_icl_ft_plain(tmp_path, tiny_model_dir):
    """Real ingest and train on a tiny corpus with the tiny model: every report file is written."""
    pytest.importorskip("adaptdocs.ingest", reason="the ingest engineer's module is not there yet")
    docs = tmp_path / "docs"
    (docs / "ops").mkdir(parents=True)
    (docs / "teams.md").write_text("# Teams\n\n" + " ".join(FACTS["teams.md"]) + "\n")
    (docs / "ops" / "backups.md").write_text("# Backups\n\n" + FACTS["ops/backups.md"][0] + "\n")
    ws = str(tmp_path / "ws")
    ingested = runner.invoke(app, ["ingest", str(docs), "-w", ws])
    assert ingested.exit_code == 0, ingested.output
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    result = runner.invoke(
        app,
        ["compare", "-q", str(questions), "-w", ws, "--model", str(tiny_model_dir), "--conditions", "base,icl,ft-plain"],
    )
    assert result.exit_code == 0, result.output
    assert "Accuracy" in result.stdout and "Cost" in result.stdout
    folder = sorted((tmp_path / "ws" / "reports").iterdir())[-1]
    names = {p.name for p in folder.iterdir()}
    assert {"report.json", "report.md", "report.html", "accuracy_by_kind.png", "accuracy_vs_cost.png"} <= names
    data = json.loads((folder / "report.json").read_text())
    assert list(data["conditions"]) == ["base", "icl", "ft-plain"]
    assert data["conditions"]["ft-plain"]["cost"]["train_tokens"] > 0
    assert data["conditions"]["icl"]["cost"]["prompt_tokens_per_query"] > data["conditions"]["base"]["cost"]["prompt_tokens_per_query"]
    assert "ft-plain_vs_icl" in data["break_even_queries"]
    assert data["icl"]["mode"] == "whole_corpus"
    # A second run finds the adapter current and does not train again.
    again = runner.invoke(
        app, ["compare", "-q", str(questions), "-w", ws, "--model", str(tiny_model_dir), "--conditions", "ft-plain", "--json"]
    )
    assert again.exit_code == 0, again.output
    assert "train plain" not in again.output


def test_rag_conditions_put_retrieved_passages_before_each_question(tmp_path, monkeypatch):
    """A backend registered by name (the registry's path for any backend) scores the rag conditions."""
    from conftest import FakeModel

    from adaptdocs.config import CompareConfig, ModelConfig
    from adaptdocs.models import BACKENDS

    class Reader(FakeModel):
        """Picks the choice that the prefix (the retrieved passages) says, else the first."""

        @classmethod
        def load(cls, spec, **kwargs):
            return cls(score=lambda prefix, context, choice: 0.0 if choice.strip() in prefix else -1.0)

    monkeypatch.setitem(BACKENDS, "reader", Reader)
    ws = store_corpus(tmp_path / "ws")
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    from adaptdocs.compare import compare

    report = compare(ws, CompareConfig(questions=str(questions), conditions=("base", "rag"), model=ModelConfig("reader:x")))
    rag = report.data["conditions"]["rag"]
    assert rag["cost"]["prompt_tokens_per_query"] > report.data["conditions"]["base"]["cost"]["prompt_tokens_per_query"]
    assert any("rag: BM25" in note for note in report.data["notes"])


def test_without_a_question_file_a_small_corpus_says_how_many_questions_it_could_make(tmp_path):
    ws = store_corpus(tmp_path / "ws")
    result = runner.invoke(app, ["compare", "-w", str(ws.root), "--conditions", "base"])
    assert result.exit_code == 1
    message = str(result.exception)
    assert "the corpus makes only" in message and "exam questions" in message and "--questions" in message
    assert not (ws.root / "reports").exists() or not any((ws.root / "reports").iterdir())


@pytest.mark.slow
def test_compare_without_questions_builds_the_exam_and_reports_it(tmp_path):
    """The real default model, the sample corpus, no question file: the exam is built, used and named.
    (Rule-made kinds only, for time: `adaptdocs questions build` is tested with the model writing too.)"""
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "sample_corpus" / "docs"
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["ingest", str(docs), "-w", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["compare", "-w", str(ws), "--conditions", "rag", "--exam-no-model", "--exam-size", "60", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    exam = data["exam"]
    assert exam["n"] >= 60 and len(exam["by_kind"]) >= 3
    assert data["questions"]["path"].endswith("exam/questions.jsonl") and data["questions"]["n"] == exam["n"]
    assert data["notes"][0].startswith("Exam generated from the corpus")
    assert set(data["conditions"]) == {"rag"} and data["conditions"]["rag"]["n"] == 60
