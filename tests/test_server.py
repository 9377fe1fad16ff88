"""Augmentation and scoring through a real OpenAI-compatible server (llama-cpp-python's, serving the
embedded SmolLM2 GGUF), with a kill and resume, and the bad inputs: a refused port, an unknown
model, a server that starts failing mid-run, a server without prompt log-probabilities.

Skipped unless ADAPTDOCS_TEST_SERVER_URL names the server as `http://HOST:PORT/v1/MODEL`;
`make test-server` builds the server's own virtual environment, starts it, runs these and stops it.
ADAPTDOCS_TEST_SERVER_NO_LOGPROBS_URL may name a second server started without logits
(`--logits_all false`) for the scoring refusal.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adaptdocs import cli
from adaptdocs.augment import LOCAL_TEMPLATES, augment
from adaptdocs.config import AugmentConfig, ModelConfig
from adaptdocs.errors import AdaptdocsError
from adaptdocs.models.openai_compat import NO_LOGPROBS, OpenAICompatModel, parse_spec
from adaptdocs.workspace import Workspace
from conftest import add_document

URL = os.environ.get("ADAPTDOCS_TEST_SERVER_URL")
NO_LOGPROBS_URL = os.environ.get("ADAPTDOCS_TEST_SERVER_NO_LOGPROBS_URL")
pytestmark = [pytest.mark.server, pytest.mark.skipif(not URL, reason="ADAPTDOCS_TEST_SERVER_URL is not set")]

SENTENCES = [
    "The Plosk tool is owned by the Mubadra team.",
    "The Mubadra team sits in the Vostra building.",
    "The Osk tool is faster than the Lagle tool.",
    "Every data tool is reviewed by the security board.",
    "The Krimbo service was launched in 2017.",
    "Ottavio Drench leads the Quillon group.",
]
ITEMS = len(SENTENCES) * len(LOCAL_TEMPLATES)


def corpus(root) -> Workspace:
    ws = Workspace(root)
    add_document(ws, "tools.md", SENTENCES[:3])
    add_document(ws, "people.md", SENTENCES[3:])
    return ws


def command(ws: Workspace, spec: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "adaptdocs", "augment", "--strategy", "local", "-w", str(ws.root),
            "--teacher", f"openai:{spec}", *extra]


def error_line(monkeypatch, capsys, args: list[str]) -> str:
    """Run the installed command's entry point: exit 1, no traceback, one error line (returned)."""
    monkeypatch.setattr(sys, "argv", ["adaptdocs", *args])
    monkeypatch.setattr(cli.console, "width", 400)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in err and len(errors) == 1, err
    return errors[0]


def test_augment_through_the_server_killed_and_resumed(tmp_path):
    ws = corpus(tmp_path / "ws")
    run = command(ws, URL, "--batch-size", "4", "--concurrency", "4")
    process = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(ws.store.done_item_keys()) < 4 and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = ws.store.done_item_keys()
    assert 4 <= len(done_before) < ITEMS, "the run finished before the kill, or never started"
    examples_before = {r["id"] for r in ws.store.examples("local")}

    result = subprocess.run(run + ["--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["strategies"]["local"]
    assert summary["items"]["skipped"] == len(done_before)  # finished items are not asked again
    assert summary["items"]["done"] == ITEMS - len(done_before)
    assert summary["tokens"]["prompt"] > 0 and summary["tokens"]["generated"] > 0  # the server's usage
    rows = ws.store.examples("local")
    assert examples_before <= {r["id"] for r in rows} and rows
    assert {r["model"] for r in rows} == {f"openai:{URL}"}  # the teacher is recorded with every example
    assert len({r["text"] for r in rows}) == len(rows)


def test_concurrent_answers_come_back_in_prompt_order():
    names = ["Plosk", "Vendrak", "Oskrel", "Kotrizo", "Brisnel", "Tavrune", "Gulmesh", "Yimbrot"]
    prompts = [f"Fact: The {n} tool is owned by the Mubadra team.\nRephrased:" for n in names]
    model = OpenAICompatModel(*parse_spec(URL), concurrency=4)
    texts, usage = model.generate(prompts, max_new_tokens=24, stop=["\n"])
    assert all("\n" not in t for t in texts)
    # The model copies each prompt's name: every answer names its own tool, and no other.
    assert [[n for n in names if n in t] for t in texts] == [[n] for n in names], texts
    assert usage.prompt_tokens + usage.cached_tokens >= sum(model.count_tokens(p) for p in prompts)
    assert 0 < usage.generated_tokens <= 24 * len(prompts)
    # Greedy, one at a time: mostly the same texts (a batching server's numerics may differ a little).
    alone, _ = OpenAICompatModel(*parse_spec(URL), concurrency=1).generate(prompts, max_new_tokens=24, stop=["\n"])
    assert sum(a == b for a, b in zip(texts, alone)) >= len(prompts) // 2


def test_unknown_model_is_one_line_naming_the_server(tmp_path, monkeypatch, capsys):
    ws = corpus(tmp_path / "ws")
    base, served = parse_spec(URL)
    line = error_line(monkeypatch, capsys, command(ws, f"{base}/no-such-model", "--limit", "1")[3:])
    assert line.startswith(f"Error: {base} serves no model 'no-such-model' (it serves: {served}")
    assert ws.store.done_item_keys() == set()


def test_refused_port_is_one_line_naming_the_url(tmp_path, monkeypatch, capsys):
    ws = corpus(tmp_path / "ws")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = error_line(monkeypatch, capsys, command(ws, f"http://127.0.0.1:{port}/v1/m", "--limit", "1")[3:])
    assert line.startswith(f"Error: cannot connect to http://127.0.0.1:{port}/v1/models: connection refused")


class FailingAfter(BaseHTTPRequestHandler):
    """A proxy to the real server whose completions start failing (500) after `allowed` of them."""

    upstream: str
    allowed: int
    completions = 0
    lock = threading.Lock()

    def do_GET(self):
        self._forward(None)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.endswith("/completions"):
            with self.lock:
                type(self).completions += 1
                failing = type(self).completions > self.allowed
            if failing:
                return self._send(500, b'{"error": {"message": "the GPU fell over"}}')
        self._forward(body)

    def _forward(self, body):
        request = urllib.request.Request(self.upstream + self.path, data=body, method=self.command,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                self._send(answer.status, answer.read())
        except urllib.error.HTTPError as e:
            self._send(e.code, e.read())

    def _send(self, status, data: bytes):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_server_failing_mid_run_keeps_finished_items(tmp_path, monkeypatch, capsys):
    from adaptdocs.models import openai_compat

    monkeypatch.setattr(openai_compat, "BACKOFF_SECONDS", 0.05)
    base, served = parse_spec(URL)
    handler = type("Proxy", (FailingAfter,), {"upstream": base.removesuffix("/v1"), "allowed": 7, "completions": 0})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxied = f"http://127.0.0.1:{proxy.server_address[1]}/v1/{served}"
    try:
        ws = corpus(tmp_path / "ws")
        line = error_line(monkeypatch, capsys, command(ws, proxied, "--batch-size", "4", "--concurrency", "1")[3:])
        assert line.startswith(f"Error: {proxied.rsplit('/', 1)[0]}/completions failed 3 times, last: 500")
        assert "the GPU fell over" in line
        # Items go out by template, 4 a batch: the 6 rephrasings (batches of 4 and 2) came back and
        # were saved; the batch of reversals whose 2nd request failed is lost, and only it.
        kept = ws.store.done_item_keys()
        assert len(kept) == 6
        handler.allowed = 10**9  # the server recovers; the rerun continues
        summary = augment(ws, AugmentConfig(strategy="local", batch_size=4, model=ModelConfig(f"openai:{proxied}")))
        local = summary.strategies["local"]
        assert local.skipped == 6 and local.done == ITEMS - 6 and kept <= ws.store.done_item_keys()
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_scoring_through_the_server_agrees_with_the_in_process_model():
    from adaptdocs.models import load_model

    server = OpenAICompatModel(*parse_spec(URL))
    if not server.can_score:
        pytest.skip(f"{URL} cannot score: {server._why_not_score()}")
    requests = [("The Plosk tool is owned by the", " Mubadra team."), ("Paris is the capital of", " France."),
                ("Paris is the capital of", " Germany.")]
    prefix = "Facts about places and tools.\n"
    got, usage = server.loglikelihood(requests, prefix=prefix)
    want, _ = load_model(quantize="fp32").loglikelihood(requests, prefix=prefix)
    assert usage.prompt_tokens > 0 and got[1] > got[2]
    for g, w in zip(got, want):  # the server may run a quantized GGUF; in-process runs it de-quantized
        assert abs(g - w) < 0.1 * abs(w) + 0.5, (got, want)


def compare_one_question(tmp_path, monkeypatch, capsys, spec: str) -> str:
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "Which team owns the Plosk tool?",
                                     "choices": ["Mubadra", "Vostra"], "answer": 0, "kind": "recall"}) + "\n")
    ws = corpus(tmp_path / "ws")
    return error_line(monkeypatch, capsys, ["compare", "-q", str(questions), "-w", str(ws.root), "--conditions", "base",
                                            "--model", f"openai:{spec}"])


def test_a_server_that_cannot_score_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    """llama-cpp-python's server echoes prompt log-probabilities shifted by one token when the model
    adds no BOS (SmolLM2): each token gets the distribution after it. llama-server echoes none.
    The probe notices either, and compare stops with one line rather than scoring wrong."""
    from adaptdocs.models.openai_compat import SHIFTED_LOGPROBS

    server = OpenAICompatModel(*parse_spec(URL))
    if server.can_score:
        pytest.skip(f"{URL} returns aligned prompt log-probabilities")
    why = server._why_not_score()
    assert why in (SHIFTED_LOGPROBS, NO_LOGPROBS)
    base = parse_spec(URL)[0]
    assert compare_one_question(tmp_path, monkeypatch, capsys, URL) == f"Error: {base}: {why}"


@pytest.mark.skipif(not NO_LOGPROBS_URL, reason="ADAPTDOCS_TEST_SERVER_NO_LOGPROBS_URL is not set")
def test_scoring_asked_of_a_server_without_logprobs(tmp_path, monkeypatch, capsys):
    model = OpenAICompatModel(*parse_spec(NO_LOGPROBS_URL))
    assert model.can_score is False
    base = parse_spec(NO_LOGPROBS_URL)[0]
    with pytest.raises(AdaptdocsError) as e:
        model.loglikelihood([("The sky is", " blue")])
    assert str(e.value) == f"{base}: {NO_LOGPROBS}"
    # Through compare: one line, before any question is scored.
    assert compare_one_question(tmp_path, monkeypatch, capsys, NO_LOGPROBS_URL) == f"Error: {base}: {NO_LOGPROBS}"
