"""The OpenAI-compatible server backend without a model server: spec parsing, the registry, and
the error paths (a refused connection; a server that fails every completion; one without
log-probabilities), each one line naming the URL. The real-server tests are in test_server.py."""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from adaptdocs import cli
from adaptdocs.cli import app
from adaptdocs.errors import AdaptdocsError
from adaptdocs.models import BACKENDS, backend_of, load_model
from adaptdocs.models import openai_compat
from adaptdocs.models.openai_compat import NO_LOGPROBS, OpenAICompatModel, parse_spec
from adaptdocs.workspace import Workspace
from conftest import add_document

runner = CliRunner()


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("http://127.0.0.1:8000/v1/smollm2", ("http://127.0.0.1:8000/v1", "smollm2")),
        ("https://llm.internal/v1/Qwen/Qwen2.5-7B-Instruct", ("https://llm.internal/v1", "Qwen/Qwen2.5-7B-Instruct")),
        ("http://host:1/prefix/v1/m/", ("http://host:1/prefix/v1", "m")),
    ],
)
def test_spec_parsing(spec, expected):
    assert parse_spec(spec) == expected
    assert backend_of(f"openai:{spec}") == ("openai", spec)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("http://127.0.0.1:8000/smollm2", "names no model after /v1/"),
        ("http://127.0.0.1:8000/v1/", "names no model after /v1/"),
        ("127.0.0.1:8000/v1/smollm2", "has no http(s) URL"),
        ("", "has no http(s) URL"),
    ],
)
def test_bad_specs_say_the_expected_form(spec, expected):
    with pytest.raises(AdaptdocsError, match="names no model|has no http") as e:
        parse_spec(spec)
    assert expected in str(e.value) and "openai:http://HOST:PORT/v1/MODEL" in str(e.value)


def test_registered_and_cannot_train():
    assert BACKENDS["openai"] is OpenAICompatModel and not OpenAICompatModel.can_train
    with pytest.raises(AdaptdocsError, match="cannot apply a LoRA adapter"):
        load_model("openai:http://127.0.0.1:1/v1/m", adapter="/nowhere")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_workspace(root) -> Workspace:
    ws = Workspace(root)
    add_document(ws, "tools.md", ["The Plosk tool is owned by the Mubadra team.", "The Osk tool is used for billing."])
    return ws


def run_main(monkeypatch, capsys, args: list[str]) -> str:
    """The installed command's rendering: exit 1, no traceback; returns its error line (the last of stderr)."""
    monkeypatch.setattr(sys, "argv", ["adaptdocs", *args])
    monkeypatch.setattr(cli.console, "width", 400)  # one line however long, as on a wide terminal
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and [line.startswith("Error:") for line in err.splitlines()].count(True) == 1, err
    return err.strip().splitlines()[-1]


def test_refused_connection_is_one_line_naming_the_url(tmp_path, monkeypatch, capsys):
    ws = small_workspace(tmp_path / "ws")
    url = f"http://127.0.0.1:{free_port()}/v1"
    err = run_main(monkeypatch, capsys, ["augment", "-w", str(ws.root), "--strategy", "local", "--limit", "1",
                                         "--teacher", f"openai:{url}/smollm2"])
    assert err.startswith(f"Error: cannot connect to {url}/models: connection refused"), err


class Scripted(BaseHTTPRequestHandler):
    """A stand-in server: lists one model; completions answer `completion_status` (and `completion_body`)."""

    completion_status = 500
    completion_body: dict = {"error": {"message": "boom"}}
    hits: list[str]

    def do_GET(self):
        self.hits.append(self.path)
        self._send(200, {"object": "list", "data": [{"id": "m", "object": "model"}]} if self.path == "/v1/models" else {})

    def do_POST(self):
        self.hits.append(self.path)
        request = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/completions":
            body = self.completion_body
            self._send(self.completion_status, body(json.loads(request)) if callable(body) else body)
        else:
            self._send(404, {"detail": "Not Found"})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted_server():
    """Start a Scripted server on a free port; yields (base URL, handler class to adjust, hits)."""
    servers = []

    def start(status: int, body: dict):
        handler = type("Handler", (Scripted,), {"completion_status": status, "completion_body": staticmethod(body)
                                                if callable(body) else body, "hits": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", handler.hits

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_server_failing_three_times_is_one_line_and_keeps_nothing_half_done(tmp_path, monkeypatch, capsys, scripted_server):
    monkeypatch.setattr(openai_compat, "BACKOFF_SECONDS", 0.01)
    url, hits = scripted_server(500, {"error": {"message": "boom"}})
    ws = small_workspace(tmp_path / "ws")
    err = run_main(monkeypatch, capsys, ["augment", "-w", str(ws.root), "--strategy", "local", "--limit", "1",
                                         "--teacher", f"openai:{url}/m", "--concurrency", "1"])
    assert hits.count("/v1/completions") == 3
    assert err.startswith(f"Error: {url}/completions failed 3 times, last: 500"), err
    assert "boom" in err and ws.store.done_item_keys() == set()
    assert ws.store.db.execute("select status from runs order by rowid desc").fetchone()[0] == "failed"


def test_429_is_retried_then_reported(monkeypatch, scripted_server):
    monkeypatch.setattr(openai_compat, "BACKOFF_SECONDS", 0.01)
    url, hits = scripted_server(429, {"error": {"message": "slow down"}})
    model = OpenAICompatModel(url, "m", concurrency=2)
    with pytest.raises(AdaptdocsError, match="failed 3 times, last: 429"):
        model.generate(["a", "b", "c"])
    assert model.stats["retries"] >= 2


def test_unknown_model_is_refused_before_any_work(scripted_server):
    url, hits = scripted_server(200, {})
    with pytest.raises(AdaptdocsError) as e:
        OpenAICompatModel(url, "gpt-9")
    assert str(e.value).startswith(f"{url} serves no model 'gpt-9' (it serves: m)")
    assert f"openai:{url}/m" in str(e.value) and "/v1/completions" not in hits


def test_a_server_without_prompt_logprobs_cannot_score(scripted_server):
    url, _ = scripted_server(200, {"choices": [{"text": " x", "index": 0, "logprobs": None}]})
    model = OpenAICompatModel(url, "m")
    assert model.can_score is False
    with pytest.raises(AdaptdocsError) as e:
        model.loglikelihood([("The sky is", " blue")])
    assert str(e.value) == f"{url}: {NO_LOGPROBS}"
    # Generation still works, with usage counted by approximation (no tokenize endpoint).
    texts, usage = model.generate(["Say:"], stop=["\n"])
    assert texts == [" x"] and usage.generated_tokens == 1


def echo(shifted: bool):
    """A completions answer echoing the prompt word by word, each word's log-probability minus its length.

    Aligned (vLLM's shape): the generated token " x" is listed after the prompt. Shifted
    (llama-cpp-python's, for a model without BOS): it is not, and the prompt's last token carries
    the distribution whose best guess is " x".
    """
    import re

    def answer(request: dict) -> dict:
        prompt = request["prompt"]
        words = [(m.start(), m.group()) for m in re.finditer(r"\s*\S+", prompt)]
        offsets, tokens = [o for o, _ in words], [w for _, w in words]
        values = [None] + [-float(len(w)) for w in tokens[1:]]
        top = [None] + [{w: -float(len(w))} for w in tokens[1:]]
        if shifted:
            top[-1] = {" x": -0.1, tokens[-1]: values[-1]}
        else:
            offsets, tokens, values, top = offsets + [len(prompt)], tokens + [" x"], values + [-0.1], top + [{" x": -0.1}]
        logprobs = {"text_offset": offsets, "tokens": tokens, "token_logprobs": values, "top_logprobs": top}
        return {"choices": [{"text": prompt + " x", "index": 0, "logprobs": logprobs}],
                "usage": {"prompt_tokens": len(words), "completion_tokens": 1}}

    return answer


def test_scoring_sums_the_continuations_echoed_logprobs(scripted_server):
    url, _ = scripted_server(200, echo(shifted=False))
    model = OpenAICompatModel(url, "m", concurrency=3)
    assert model.can_score
    scores, usage = model.loglikelihood([("The sky is", " blue"), ("The sky is", " very blue"), ("Owner:", " Quillet.")],
                                        prefix="Facts.\n")
    assert scores == [-5.0, -10.0, -9.0] and usage.prompt_tokens == 5 + 6 + 3  # the prompts' tokens


def test_shifted_logprobs_are_detected_and_refused(scripted_server):
    from adaptdocs.models.openai_compat import SHIFTED_LOGPROBS

    url, _ = scripted_server(200, echo(shifted=True))
    model = OpenAICompatModel(url, "m")
    assert model.can_score is False
    with pytest.raises(AdaptdocsError, match="shifted by one token"):
        model.loglikelihood([("The sky is", " blue")])
    assert model._why_not_score() == SHIFTED_LOGPROBS


def test_train_refuses_a_server_model(tmp_path):
    ws = small_workspace(tmp_path / "ws")
    result = runner.invoke(app, ["train", "-w", str(ws.root), "--model", "openai:http://127.0.0.1:1/v1/m"])
    assert result.exit_code == 1 and "the openai backend cannot train" in str(result.exception)


def test_the_api_key_comes_from_the_environment_only(monkeypatch, scripted_server):
    url, _ = scripted_server(200, {})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    monkeypatch.setenv("ADAPTDOCS_OPENAI_API_KEY", "sk-test")
    model = OpenAICompatModel(url, "m")
    assert model._client.headers["authorization"] == "Bearer sk-test"
    assert "sk-test" not in json.dumps(model.info.as_dict())


# -- --teacher: the augmenting model, apart from the model trained and evaluated -------------------


def test_augment_teacher_writes_the_examples_and_is_recorded(tmp_path, monkeypatch):
    from conftest import FakeModel

    loads = []

    class Teacher(FakeModel):
        @classmethod
        def load(cls, spec, **kwargs):
            loads.append((spec, kwargs["concurrency"]))
            model = cls(respond=lambda prefix, prompt: " The Mubadra team owns the Plosk tool.")
            model.info.name = f"teacher:{spec}"
            return model

    monkeypatch.setitem(BACKENDS, "teacher", Teacher)
    ws = small_workspace(tmp_path / "ws")
    result = runner.invoke(app, ["augment", "-w", str(ws.root), "--strategy", "local", "--limit", "4",
                                 "--model", "never-loaded", "--teacher", "teacher:big", "--concurrency", "3",
                                 "--no-verify"])
    assert result.exit_code == 0, result.output
    assert loads == [("big", 3)]
    assert {r["model"] for r in ws.store.examples("local")} == {"teacher:big"}
    assert {r["model"] for r in ws.store.augment_items("local")} == {"teacher:big"}


def test_compare_augments_with_the_teacher_and_trains_the_model(tmp_path, monkeypatch):
    import adaptdocs.augment
    import adaptdocs.compare
    import adaptdocs.train
    from adaptdocs.compare import prepare_adapters
    from adaptdocs.progress import NullReporter

    seen = {}

    class Stop(Exception):
        pass

    def fake_train(ws, config, reporter=None):
        seen["train"] = config.model.model
        raise Stop

    def fake_augment(ws, config, reporter=None):
        seen.setdefault("augment", config.model)
        return adaptdocs.augment.AugmentSummary(model=config.model.model, dry_run=False)

    monkeypatch.setattr(adaptdocs.augment, "augment", fake_augment)
    monkeypatch.setattr(adaptdocs.train, "train", fake_train)
    ws = small_workspace(tmp_path / "ws")
    captured = {}

    def fake_compare(ws, config, reporter):
        captured["config"] = config
        with pytest.raises(Stop):
            prepare_adapters(ws, config, NullReporter())
        raise Stop

    monkeypatch.setattr(adaptdocs.compare, "compare", fake_compare)
    questions = tmp_path / "q.jsonl"
    questions.write_text("")
    result = runner.invoke(app, ["compare", "-q", str(questions), "-w", str(ws.root), "--conditions", "ft-local",
                                 "--model", "student", "--teacher", "openai:http://h:1/v1/t", "--concurrency", "6"])
    assert isinstance(result.exception, Stop)
    assert seen["augment"].model == "openai:http://h:1/v1/t" and seen["augment"].concurrency == 6
    assert seen["train"] == "student" and captured["config"].model.model == "student"
