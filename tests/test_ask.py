"""`adaptdocs ask`: passage retrieval, the rag prefix, condition choice, streaming, stdin mode, errors."""

from __future__ import annotations

import conftest

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptdocs import cli
from adaptdocs.ask import AskConfig, AskSession, ask, default_condition, parse_condition
from adaptdocs.cli import app
from adaptdocs.errors import AdaptdocsError
from adaptdocs.models.base import Model, ModelInfo, Usage
from adaptdocs.retrieval import build_passage_index, rag_prefix, retrieve_passages
from adaptdocs.store import Document, Sentence
from adaptdocs.templates import load_template
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


class FakeModel(Model):
    """Answers every prompt with `respond(prefix, prompt)`; records calls; streams word by word if `streams`."""

    def __init__(self, respond: Callable[[str, str], str] = lambda prefix, prompt: " Mubadra\n",
                 context_length: int = 8192):
        self.respond = respond
        self.info = ModelInfo("fake", "test", 1, "fp32", "cpu", context_length, False)
        self.calls: list[dict] = []

    def generate(self, prompts: Sequence[str], *, prefix: str = "", max_new_tokens: int = 64, temperature: float = 0.0,
                 seed: int = 0, stop: Sequence[str] = (), batch_size: int = 16, reporter=None):
        self.calls.append({"prefix": prefix, "prompts": list(prompts), "stop": list(stop), "temperature": temperature})
        texts = [_cut(self.respond(prefix, p), stop) for p in prompts]
        return texts, Usage(generated_tokens=sum(len(t.split()) for t in texts))

    def loglikelihood(self, requests, *, prefix="", batch_size=32, reporter=None):
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class StreamingFakeModel(FakeModel):
    def generate(self, prompts, *, on_text=None, **kwargs):
        texts, usage = super().generate(prompts, **kwargs)
        for i, text in enumerate(texts):
            for piece in text.split(" "):
                on_text(i, piece if piece == text.split(" ")[0] else " " + piece) if on_text else None
        return texts, usage


def _cut(text: str, stop: Sequence[str]) -> str:
    for s in stop:
        text = text.split(s)[0]
    return text


def store_corpus(root: Path, facts: dict[str, list[str]] = FACTS) -> Workspace:
    return conftest.store_corpus(root, facts)


def fake_adapter(ws: Workspace, data: str, model: str | None = None) -> Path:
    path = ws.adapter_dir(data)
    path.mkdir(parents=True, exist_ok=True)
    (path / "adapter_config.json").write_text("{}")
    (path / "adaptdocs.json").write_text(json.dumps({"request": {"model": model, "quantize": "auto", "device": "auto"}}))
    return path


def write_report(ws: Workspace, name: str, accs: dict[str, float]) -> None:
    folder = ws.reports_dir / name
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"conditions": {c: {"acc": a, "n": 3} for c, a in accs.items()}}))


@pytest.fixture
def loads(monkeypatch):
    """Replace model loading by a StreamingFakeModel; records each load's adapter."""
    calls: list = []

    def load_model(spec=None, *, quantize="auto", device="auto", adapter=None, reporter=None):
        calls.append(adapter)
        return StreamingFakeModel()

    monkeypatch.setattr("adaptdocs.models.loading.load_model", load_model)
    return calls


# -- retrieval -------------------------------------------------------------------------------------


def _sentences() -> tuple[list[Sentence], list[Document]]:
    texts = ["The Plosk tool is owned by the Mubadra team.", "Lunch is at noon.",
             "The Plosk tool is old, and the Mubadra team maintains it with great care on every day of the week.",
             "Plosk.", "The Plosk tool is owned by the Mubadra team."]
    sentences = [Sentence(f"s{i}", "d1" if i < 3 else "d2", "e", i, t) for i, t in enumerate(texts)]
    documents = [Document("d1", "/docs/a.md", "a.md", "md", ""), Document("d2", "/docs/sub/b.md", "sub/b.md", "md", "")]
    return sentences, documents


def test_retrieve_passages_top_k_by_bm25_with_files_and_sentence_ids():
    sentences, documents = _sentences()
    index = build_passage_index(sentences, documents)
    passages = retrieve_passages(index, "Who owned the Plosk tool?", 2, None, lambda t: len(t.split()))
    assert [p.sentence_id for p in passages] == ["s0", "s2"]  # s4, the same text as s0, is not taken twice
    assert passages[0].score > passages[1].score > 0
    assert passages[0].as_dict() == {"file": "a.md", "sentence_id": "s0", "score": passages[0].score,
                                     "text": "The Plosk tool is owned by the Mubadra team."}
    # Nothing sharing no word with the question, whatever k allows.
    passages = retrieve_passages(index, "Who owned the Plosk tool?", 10, None, len)
    assert [(p.sentence_id, p.file) for p in passages] == [("s0", "a.md"), ("s2", "a.md"), ("s3", "sub/b.md")]
    assert retrieve_passages(sentences, "weather", 5, None, len) == []


def test_retrieve_passages_keeps_to_the_budget_passing_over_a_long_passage():
    sentences, documents = _sentences()
    count = lambda t: len(t.split())  # noqa: E731
    passages = retrieve_passages(build_passage_index(sentences, documents), "Plosk tool Mubadra team owns", None, 12, count)
    assert "s2" not in [p.sentence_id for p in passages]  # 20 words: over the budget, passed over
    assert sum(count(p.text) + 1 for p in passages) <= 12 and passages


def test_rag_prefix_shows_passages_in_corpus_order_in_either_template():
    sentences, documents = _sentences()
    passages = retrieve_passages(build_passage_index(sentences, documents), "Who owned the Plosk tool?", 2, None, len)
    prefix = rag_prefix(list(reversed(passages)), load_template("rag_passages"))
    assert prefix == f"Here are passages from our internal documents.\n\n{sentences[0].text}\n{sentences[2].text}\n\n"
    assert rag_prefix(passages, load_template("icl_corpus")).endswith(f"\n\n{sentences[0].text}\n{sentences[2].text}\n\n")


# -- conditions ------------------------------------------------------------------------------------


def test_condition_names():
    assert parse_condition("base") == (None, None)
    assert parse_condition("rag") == ("rag", None)
    assert parse_condition("ft-both") == (None, "both")
    assert parse_condition("rag+ft-local") == ("rag", "local")
    for bad in ("ft-", "ft-wiki", "icl+ft-both", "rag+base", "RAG"):
        with pytest.raises(AdaptdocsError, match="unknown condition"):
            parse_condition(bad)


def test_default_condition_is_the_best_usable_one_of_the_latest_report(tmp_path):
    ws = store_corpus(tmp_path / "ws")
    with pytest.raises(AdaptdocsError, match="no condition to answer with"):
        default_condition(ws)
    fake_adapter(ws, "both")
    assert default_condition(ws)[0] == "ft-both"  # no report yet
    write_report(ws, "20250101-000000", {"base": 0.2, "icl": 0.9})
    write_report(ws, "20250102-000000", {"base": 0.3, "icl": 0.5, "ft-global": 0.8, "rag+ft-both": 0.6, "cot": 0.99})
    (ws.reports_dir / ".tmp-20250103-000000-1").mkdir()  # an unfinished report
    condition, why = default_condition(ws)
    assert condition == "rag+ft-both"  # ft-global has no adapter; cot is not a condition ask knows
    assert "20250102-000000" in why and "0.60" in why


# -- the flow, with a fake model -------------------------------------------------------------------


def test_rag_puts_the_passages_and_examples_before_the_evaluation_prompt(tmp_path):
    ws = store_corpus(tmp_path / "ws")
    model = FakeModel()
    answer = ask(ws, " Which team owns the Plosk tool? ", AskConfig(use="rag", k=2), model=model)
    call = model.calls[0]
    assert call["prompts"] == ["Question: Which team owns the Plosk tool?\nAnswer:"]
    assert call["stop"] == ["\n"] and call["temperature"] == 0.0
    assert call["prefix"].startswith("Here are passages from our internal documents.\n\nThe Plosk tool is owned")
    assert call["prefix"].endswith(load_template("ask_examples").render())
    assert answer.text == "Mubadra" and answer.condition == "rag" and answer.context == "passages"
    assert [p.file for p in answer.passages] == ["teams.md", "teams.md"]
    assert answer.prompt_tokens == model.count_tokens(call["prefix"]) + model.count_tokens(call["prompts"][0])
    # Without examples (or for a cloze), the prompt is exactly what evaluation scores.
    ask(ws, "The Plosk tool is owned by the", AskConfig(use="base", style="cloze"), model=model)
    assert model.calls[-1]["prefix"] == "" and model.calls[-1]["prompts"] == ["The Plosk tool is owned by the"]


def test_icl_shows_the_whole_corpus_or_retrieves_when_it_does_not_fit(tmp_path):
    ws = store_corpus(tmp_path / "ws")
    model = FakeModel()
    answer = ask(ws, "Which team owns the Plosk tool?", AskConfig(use="icl", examples=False), model=model)
    assert answer.context == "whole_corpus" and len(answer.passages) == 4
    assert "# ops/backups.md\nBackups of the Krelvash" in model.calls[0]["prefix"]
    small = FakeModel(context_length=110)
    answer = ask(ws, "Which team owns the Plosk tool?", AskConfig(use="icl", examples=False), model=small)
    assert answer.context == "passages" and "Krelvash" not in small.calls[0]["prefix"]
    assert [p.sentence_id for p in answer.passages][0].endswith("-s0")


def test_answer_streams_without_leading_space_and_a_non_streaming_model_gives_it_whole(tmp_path):
    ws = store_corpus(tmp_path / "ws")
    pieces: list[str] = []
    answer = ask(ws, "Who?", AskConfig(use="base"), model=StreamingFakeModel(lambda p, q: " The Mubadra team.\nQuestion"),
                 on_text=pieces.append)
    assert pieces == ["The", " Mubadra", " team."] and answer.text == "The Mubadra team."
    pieces.clear()
    ask(ws, "Who?", AskConfig(use="base"), model=FakeModel(), on_text=pieces.append)
    assert pieces == ["Mubadra"]


def test_cli_json_and_text_output(tmp_path, loads):
    ws = store_corpus(tmp_path / "ws")
    result = runner.invoke(app, ["ask", "Which team owns the Plosk tool?", "--use", "rag", "-k", "1", "-w", str(ws.root), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "Mubadra" and data["condition"] == "rag"
    assert data["passages"] == [{"file": "teams.md", "sentence_id": data["passages"][0]["sentence_id"],
                                 "score": data["passages"][0]["score"], "text": FACTS["teams.md"][0]}]
    result = runner.invoke(app, ["ask", "Which team owns the Plosk tool?", "--use", "rag", "-k", "1", "-w", str(ws.root)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Mubadra" and "teams.md" in lines[2] and FACTS["teams.md"][0] in lines[2]


def test_default_ft_both_loads_its_adapter(tmp_path, loads):
    ws = store_corpus(tmp_path / "ws")
    adapter = fake_adapter(ws, "both")
    result = runner.invoke(app, ["ask", "Which team owns the Plosk tool?", "-w", str(ws.root)])
    assert result.exit_code == 0 and loads == [adapter]
    assert "ft-both" in result.stderr


def test_stdin_mode_loads_the_model_once_for_every_question(tmp_path, loads):
    ws = store_corpus(tmp_path / "ws")
    result = runner.invoke(app, ["ask", "--use", "rag", "-w", str(ws.root), "--json"],
                           input="Which team owns the Plosk tool?\n\nWho leads the Trimbelo team?\n")
    assert result.exit_code == 0, result.output
    assert loads == [None]
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == ["Which team owns the Plosk tool?", "Who leads the Trimbelo team?"]
    assert all(a["passages"] for a in answers)


def test_on_a_terminal_ask_prompts_until_end_of_input(tmp_path, loads, monkeypatch):
    ws = store_corpus(tmp_path / "ws")
    typed = iter(["Which team owns the Plosk tool?", "", "Who leads the Trimbelo team?"])

    def prompt(markup):
        assert "?" in markup
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(cli.console, "input", prompt)
    result = runner.invoke(app, ["ask", "--use", "base", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Mubadra", "Mubadra"] and loads == [None]


# -- errors: one line each -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup, args, expected",
    [
        ("empty", ["--use", "base"], "holds no documents (run `adaptdocs ingest PATH` first)"),
        ("corpus", ["--use", "ft-wiki"], "--use: unknown condition 'ft-wiki' (pick base | icl | rag"),
        ("corpus", ["--use", "rag+ft-local"], "no adapter for ft-local in"),
        ("corpus", [], "no condition to answer with"),
        ("other-model", ["--use", "ft-both"], "the ft-both adapter was trained on ./other, not the default model"),
    ],
)
def test_errors_are_one_line(tmp_path, loads, monkeypatch, capsys, setup, args, expected):
    root = tmp_path / "ws"
    if setup != "empty":
        ws = store_corpus(root)
        if setup == "other-model":
            fake_adapter(ws, "both", model="./other")
    result = runner.invoke(app, ["ask", "Who?", "-w", str(root), *args])
    assert result.exit_code == 1 and isinstance(result.exception, AdaptdocsError)
    assert expected in str(result.exception) and loads == []
    # As the installed command renders it: one line on stderr, no traceback.
    monkeypatch.setattr(sys, "argv", ["adaptdocs", "ask", "Who?", "-w", str(root), *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Error: ") and expected in err


# -- streaming in the transformers backend ---------------------------------------------------------


PROMPTS = ["Hello there", "The Kotrizo tool is owned by", "a"]


def test_hf_generate_streams_pieces_that_join_to_each_output(tiny_model):
    full, _ = tiny_model.generate(PROMPTS, max_new_tokens=10)
    stop = full[1][4:9]  # a multi-character stop string the second row really produces
    pieces: dict[int, list[str]] = {}
    outputs, _ = tiny_model.generate(PROMPTS, max_new_tokens=10, stop=[stop], batch_size=2,
                                     on_text=lambda i, piece: pieces.setdefault(i, []).append(piece))
    assert outputs == tiny_model.generate(PROMPTS, max_new_tokens=10, stop=[stop])[0]
    assert {i: "".join(p) for i, p in pieces.items() if p} == {i: o for i, o in enumerate(outputs) if o}
    assert len(pieces[0]) > 1  # streamed, not handed over at the end
    assert all(stop not in "".join(p) for p in pieces.values())


# -- the real default model ------------------------------------------------------------------------


@pytest.mark.slow
def test_real_model_streams_an_answer_and_rag_json_lists_passages(tmp_path, monkeypatch):
    ws = store_corpus(tmp_path / "ws")
    session = AskSession(ws, AskConfig(use="rag", max_new_tokens=12))
    pieces: list[str] = []
    answer = session.ask("Which team owns the Plosk tool?", on_text=pieces.append)
    assert answer.text and len(pieces) > 1 and "".join(pieces).strip() == answer.text
    assert answer.generated_tokens >= len(pieces) and answer.seconds > 0
    # The command, on the same loaded model.
    monkeypatch.setattr("adaptdocs.models.loading.load_model", lambda *a, **k: session.model)
    result = runner.invoke(app, ["ask", "Which team owns the Plosk tool?", "--use", "rag", "-w", str(ws.root),
                                 "--json", "--max-new-tokens", "12"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == answer.text
    assert data["passages"][0]["text"] == FACTS["teams.md"][0] and data["passages"][0]["file"] == "teams.md"
