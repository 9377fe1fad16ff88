"""A model behind an OpenAI-compatible HTTP server (vLLM, TGI, llama.cpp server): `openai:URL/v1/MODEL`.

Generation goes through `/v1/completions`, because the augmentation templates are completion
prompts: each request sends `prefix + prompt` as its prompt, with `max_tokens`, `temperature`,
`seed` and `stop`. Up to `concurrency` requests are in flight at once (a thread pool), so a
server that batches (vLLM, llama-server with --parallel) works on several prompts together.
Requests answered 429 or 5xx, or timing out, are retried with exponential backoff (3 attempts in
all); a refused connection, a missing model or a rejected request is one AdaptdocsError that
names the URL.

Scoring needs the log-probabilities of the prompt's own tokens (`echo` with `logprobs`), which not
every server returns, and not every one returns right: llama-cpp-python's server, for a model
without a BOS token (SmolLM2), gives each prompt token the distribution that predicts the *next*
one. `can_score` is True only after a probe request got them, aligned. A request is sent as the
text `prefix + context + continuation`, and the continuation's tokens are found by their
character offsets (`text_offset`); the text is tokenized as a whole, unlike models/hf.py, which
encodes context and continuation apart, so a token straddling the boundary counts for the
continuation.

Token counts come from the server: `usage` of each completion, and `count_tokens` through its
tokenize endpoint (llama.cpp `/tokenize`, vLLM `/tokenize`, llama-cpp-python `/extras/tokenize`);
a server without one gets an approximation (4 characters a token), and says so once.

The API key is read from `ADAPTDOCS_OPENAI_API_KEY` (else `OPENAI_API_KEY`), never from a flag,
and is never stored or logged. The backend cannot train (no weights here): `can_train = False`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

from ..errors import AdaptdocsError
from ..progress import NullReporter, Reporter
from .base import Model, ModelInfo, Usage

API_KEY_VARIABLES = ("ADAPTDOCS_OPENAI_API_KEY", "OPENAI_API_KEY")
ATTEMPTS = 3  # tries per request for 429, 5xx and timeouts
BACKOFF_SECONDS = 1.0  # before the second try; doubled before each later one
MAX_RETRY_AFTER_SECONDS = 30.0  # a 429's Retry-After is honoured up to this
CONNECT_TIMEOUT_SECONDS = 10.0
# A long generation on a busy server can take minutes; a request silent for longer is retried.
READ_TIMEOUT_SECONDS = 300.0
# Without a context length from the server: llama.cpp's and llama-cpp-python's default n_ctx.
ASSUMED_CONTEXT = 2048
CHARS_PER_TOKEN = 4  # the approximation when the server has no tokenize endpoint
NO_LOGPROBS = "this server returns no prompt log-probabilities; compare needs them: evaluate with a local model"
SHIFTED_LOGPROBS = ("this server's prompt log-probabilities are shifted by one token (each token gets the "
                    "distribution that predicts the next: llama-cpp-python with a model without BOS); "
                    "compare needs them right: evaluate with a local model")
PROBE = "The sky is blue"  # the scoring probe's prompt


def parse_spec(spec: str) -> tuple[str, str]:
    """(base URL ending in /v1, model name) of `http://host:port/v1/MODEL` (the spec after `openai:`).

    The model name is everything after `/v1/`, slashes included (vLLM serves ids like `org/name`).
    """
    usage = "write the model as openai:http://HOST:PORT/v1/MODEL"
    text = (spec or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AdaptdocsError(f"model spec openai:{text!r} has no http(s) URL", usage)
    head, sep, model = text.partition("/v1/")
    if not sep or not model.strip("/"):
        raise AdaptdocsError(f"model spec openai:{text!r} names no model after /v1/", usage)
    return head.rstrip("/") + "/v1", model.strip("/")


def api_key() -> str | None:
    """The API key from the environment (ADAPTDOCS_OPENAI_API_KEY, else OPENAI_API_KEY), or None."""
    return next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)


class Unreachable(AdaptdocsError):
    """The server could not be reached at all (refused, no such host)."""


class ServerError(AdaptdocsError):
    """A request the server answered with an error status (kept apart to tell 404 from the rest)."""

    def __init__(self, message: str, status: int, hint: str | None = None):
        super().__init__(message, hint)
        self.status = status


class OpenAICompatModel(Model):
    """A model served over the OpenAI completions API.

    Args:
        base_url: the server's API root, ending in /v1 (http://127.0.0.1:8000/v1).
        model: the model name the server knows it by.
        concurrency: requests in flight at once.
        reporter: told once of approximations (token counts, context length).
        check: ask the server for its models first (a refused connection or an unknown model
            fails here, before any work).
    """

    can_train = False

    @classmethod
    def load(cls, spec: str | None, *, quantize: str = "auto", device: str = "auto", adapter=None,
             reporter: Reporter = NullReporter(), concurrency: int = 4) -> OpenAICompatModel:
        """Connect to the server `spec` names (see parse_spec); quantize and device are the server's business."""
        base_url, model = parse_spec(spec or "")
        return cls(base_url, model, concurrency=concurrency, reporter=reporter)

    def __init__(self, base_url: str, model: str, *, concurrency: int = 4, reporter: Reporter = NullReporter(),
                 check: bool = True):
        import httpx

        if concurrency < 1:
            raise AdaptdocsError("--concurrency must be at least 1")
        self.base_url, self.model_name, self.concurrency = base_url.rstrip("/"), model, concurrency
        self.root = self.base_url.removesuffix("/v1")
        self.reporter = reporter
        key = api_key()
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            limits=httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2),
        )
        self._tokenize: Callable[[str], list[int] | None] | None = None
        self._scoring: str | None = None  # after the probe: None (why not) or "" (it can score)
        self._lock = threading.Lock()
        # Figures for benchmarks: requests sent, retries, seconds spent waiting on the server.
        self.stats = {"requests": 0, "retries": 0, "wait_seconds": 0.0}
        context, note = ASSUMED_CONTEXT, f"assumed {ASSUMED_CONTEXT}: the server does not say"
        if check:
            context, note = self._check_model()
        self.info = ModelInfo(
            name=f"openai:{self.base_url}/{model}",
            source=f"server {self.base_url}",
            parameters=0,  # unknown: the weights are the server's
            dtype="server",
            device=self.base_url,
            context_length=context,
            has_chat_template=False,
            reason=f"served by {self.base_url} (context {context}: {note})",
        )

    # -- the Model interface ------------------------------------------------------------------

    @property
    def can_score(self) -> bool:  # type: ignore[override]
        """True when a probe request returned prompt log-probabilities, aligned (asked once)."""
        return self._why_not_score() == ""

    def generate(
        self,
        prompts: Sequence[str],
        *,
        prefix: str = "",
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        batch_size: int = 16,
        reporter: Reporter = NullReporter(),
    ) -> tuple[list[str], Usage]:
        """See Model.generate. All of `prompts` go out `concurrency` at a time; `batch_size` is unused.

        Each prompt's sampling seed is (seed, prompt index), as in the in-process backend.
        """
        start = time.perf_counter()

        def one(i: int) -> tuple[str, Usage]:
            body = {"model": self.model_name, "prompt": prefix + prompts[i], "max_tokens": max_new_tokens,
                    "temperature": temperature, "seed": seed * 1_000_003 + i}
            if stop:
                body["stop"] = list(stop)
            data = self._post("/completions", body)
            choice = _first_choice(data, self.base_url)
            text = _cut_at_stop(choice.get("text") or "", stop)
            return text, self._usage(data, prefix + prompts[i], text)

        results = self._map(one, len(prompts), reporter)
        usage = sum((u for _, u in results), Usage())
        usage.seconds = time.perf_counter() - start
        return [t for t, _ in results], usage

    def loglikelihood(
        self,
        requests: Sequence[tuple[str, str]],
        *,
        prefix: str = "",
        batch_size: int = 32,
        reporter: Reporter = NullReporter(),
    ) -> tuple[list[float], Usage]:
        """See Model.loglikelihood: one echo request per pair, `concurrency` at a time."""
        why_not = self._why_not_score()
        if why_not:
            raise AdaptdocsError(f"{self.base_url}: {why_not}")
        start = time.perf_counter()

        def one(i: int) -> tuple[float, Usage]:
            context, continuation = requests[i]
            text = prefix + context + continuation
            logprobs = self._echo(text)
            values = _continuation_logprobs(logprobs, len(prefix + context), len(text))
            if not values or any(v is None for v in values):
                raise AdaptdocsError(f"{self.base_url}: no log-probability for the tokens of {continuation!r}",
                                     "give every request some context before its continuation")
            prompt_tokens = sum(1 for offset in logprobs.get("text_offset") or [] if offset < len(text))
            return float(sum(values)), Usage(prompt_tokens=prompt_tokens)

        results = self._map(one, len(requests), reporter)
        usage = sum((u for _, u in results), Usage())
        usage.seconds = time.perf_counter() - start
        return [s for s, _ in results], usage

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        tokens = self._tokenizer()(text)
        return math.ceil(len(text) / CHARS_PER_TOKEN) if tokens is None else len(tokens)

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        raise AdaptdocsError(f"{self.info.name} is used through /v1/completions: chat templates are not applied",
                             "use a completion-mode template")

    def close(self) -> None:
        self._client.close()

    # -- requests -------------------------------------------------------------------------------

    def _map(self, fn: Callable[[int], tuple], n: int, reporter: Reporter) -> list[tuple]:
        """fn(0..n-1) with up to `concurrency` in flight, results in order; the first error cancels the rest."""
        if n == 0:
            return []
        if self.concurrency == 1 or n == 1:
            out = []
            for i in range(n):
                out.append(fn(i))
                reporter.advance(1)
            return out
        results: list[tuple | None] = [None] * n
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, n), thread_name_prefix="adaptdocs-http")
        futures = {pool.submit(fn, i): i for i in range(n)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    results[futures[f]] = f.result()  # raises the request's error
                    reporter.advance(1)
        finally:
            # On an error or Ctrl-C, requests not yet sent are dropped; those in flight are not awaited.
            pool.shutdown(wait=not pending, cancel_futures=True)
        return results  # type: ignore[return-value]

    def _post(self, path: str, body: dict) -> dict:
        """POST to base_url + path with retries; the decoded JSON answer, or one clear error."""
        return self._request("POST", self.base_url + path, body)

    def _request(self, method: str, url: str, body: dict | None = None, *, retry: bool = True) -> dict:
        import httpx

        attempts = ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            waited = time.perf_counter()
            try:
                response = self._client.request(method, url, json=body)
                problem = None
            except httpx.TimeoutException:
                response, problem = None, f"no answer within {READ_TIMEOUT_SECONDS:.0f} s"
            except httpx.ConnectError as e:
                raise Unreachable(f"cannot connect to {url}: {_reason(e)}",
                                     "is the server running, and are the host and port right?") from None
            except httpx.TransportError as e:
                response, problem = None, f"connection failed: {_reason(e)}"
            finally:
                with self._lock:
                    self.stats["requests"] += 1
                    self.stats["wait_seconds"] += time.perf_counter() - waited
            if response is not None:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except json.JSONDecodeError:
                        raise AdaptdocsError(f"{url} answered {response.status_code} with no JSON: "
                                             f"{response.text[:200]!r}", "is this an OpenAI-compatible server?") from None
                if response.status_code != 429 and response.status_code < 500:
                    raise self._client_error(url, response)
                problem = f"{response.status_code} {response.reason_phrase}: {_error_text(response)}"
            if attempt == attempts:
                raise AdaptdocsError(f"{url} failed {attempts} times, last: {problem}",
                                     "the server is overloaded or failing; finished work is kept, rerun to continue")
            with self._lock:
                self.stats["retries"] += 1
            time.sleep(_backoff(attempt, response))
        raise AssertionError("unreachable")

    def _client_error(self, url: str, response) -> AdaptdocsError:
        status, text = response.status_code, _error_text(response)
        if status in (401, 403):
            return ServerError(f"{url} refused the request ({status}): {text}", status,
                               f"set the API key in {API_KEY_VARIABLES[0]} (or {API_KEY_VARIABLES[1]})")
        if status == 404:
            return ServerError(f"{url}: 404 not found ({text})", status,
                               f"does the server serve model {self.model_name!r} at {self.base_url}? "
                               "write the model as openai:http://HOST:PORT/v1/MODEL")
        return ServerError(f"{url} rejected the request ({status}): {text}", status)

    def _check_model(self) -> tuple[int, str]:
        """Ask /v1/models: the server answers, it serves this model; returns (context length, where from)."""
        url = f"{self.base_url}/models"
        try:
            listing = self._request("GET", url)
        except ServerError as e:
            if e.status != 404:
                raise
            listing = {}  # a server without the listing: the first request will tell
        entries = [m for m in listing.get("data") or [] if isinstance(m, dict)]
        ids = [str(m.get("id")) for m in entries]
        if entries and self.model_name not in ids:
            raise AdaptdocsError(f"{self.base_url} serves no model {self.model_name!r} (it serves: {', '.join(ids)})",
                                 f"write the model as openai:{self.base_url}/{ids[0]}")
        entry = next((m for m in entries if m.get("id") == self.model_name), {})
        meta = entry.get("meta") or {}
        for key, value in (("max_model_len", entry.get("max_model_len")), ("meta.n_ctx", meta.get("n_ctx")),
                           ("meta.n_ctx_train", meta.get("n_ctx_train"))):
            if isinstance(value, int) and value > 0:
                return value, f"the server's {key}"
        try:
            props = self._request("GET", f"{self.root}/props", retry=False)
            n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
            if isinstance(n_ctx, int) and n_ctx > 0:
                return n_ctx, "the server's n_ctx"
        except AdaptdocsError:
            pass
        self.reporter.log(f"{self.base_url} does not say its context length: assuming {ASSUMED_CONTEXT} tokens")
        return ASSUMED_CONTEXT, f"assumed {ASSUMED_CONTEXT}: the server does not say"

    def _usage(self, data: dict, prompt: str, text: str) -> Usage:
        """What one completion cost: the server's `usage`, else our own token counts."""
        reported = data.get("usage") or {}
        prompt_tokens = reported.get("prompt_tokens")
        generated = reported.get("completion_tokens")
        cached = (reported.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        if not isinstance(prompt_tokens, int):
            prompt_tokens = self.count_tokens(prompt)
        if not isinstance(generated, int):
            generated = self.count_tokens(text)
        return Usage(prompt_tokens=prompt_tokens - cached, cached_tokens=cached, generated_tokens=generated)

    # -- tokenizing and scoring ----------------------------------------------------------------

    def _tokenizer(self) -> Callable[[str], list[int] | None]:
        """The first tokenize endpoint that answers with tokens; else one that returns None."""
        if self._tokenize is not None:
            return self._tokenize
        m = self.model_name
        shapes = [  # (url, body): special tokens left out where the endpoint allows, as models/hf.py counts
            (f"{self.root}/tokenize", lambda t: {"content": t, "add_special": False}),  # llama.cpp server
            (f"{self.root}/tokenize", lambda t: {"model": m, "prompt": t, "add_special_tokens": False}),  # vLLM
            (f"{self.root}/extras/tokenize", lambda t: {"model": m, "input": t}),  # llama-cpp-python
        ]
        for url, make in shapes:
            try:
                answer = self._request("POST", url, make("a b"), retry=False)
            except Unreachable:
                raise
            except AdaptdocsError:  # not this server's endpoint (404, 405, 422, or a 500 on an odd body)
                continue
            if isinstance(answer.get("tokens"), list) and all(isinstance(x, int) for x in answer["tokens"]):
                def tokenize(text: str, url=url, make=make) -> list[int]:
                    return list(self._request("POST", url, make(text))["tokens"])

                self._tokenize = tokenize
                return tokenize
        self.reporter.log(f"{self.base_url} has no tokenize endpoint: token counts are approximate "
                          f"({CHARS_PER_TOKEN} characters a token)")
        self._tokenize = lambda text: None
        return self._tokenize

    def _echo(self, prompt: str, retry: bool = True) -> dict:
        """The prompt's own token log-probabilities, with the top-1 alternative (one token is generated)."""
        body = {"model": self.model_name, "prompt": prompt, "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1}
        data = self._request("POST", f"{self.base_url}/completions", body, retry=retry)
        choice = _first_choice(data, self.base_url)
        logprobs = choice.get("logprobs")
        if not isinstance(logprobs, dict) or not isinstance(logprobs.get("token_logprobs"), list):
            raise AdaptdocsError(f"{self.base_url}: {NO_LOGPROBS}")
        return {**logprobs, "text": choice.get("text") or ""}

    def _why_not_score(self) -> str:
        """Probe once whether the server scores prompts: "" if it does, else why not.

        Aligned log-probabilities of an echoed prompt with one greedy token generated list that
        token too. llama-cpp-python's shifted ones stop at the prompt's last token, and give it the
        distribution whose best guess is the token generated next.
        """
        if self._scoring is not None:
            return self._scoring
        why = NO_LOGPROBS
        try:  # not retried: a server that cannot echo log-probabilities may answer 400 or 500
            echoed = self._echo(PROBE, retry=False)
            offsets, top = echoed.get("text_offset") or [], echoed.get("top_logprobs") or []
            if any(v is not None for v in echoed["token_logprobs"]) and offsets:
                generated = echoed["text"][len(PROBE):] if echoed["text"].startswith(PROBE) else ""
                best_last = max(top[-1], key=top[-1].get) if top and isinstance(top[-1], dict) and top[-1] else None
                shifted = (offsets[-1] < len(PROBE) and generated and best_last
                           and generated.startswith(best_last))
                why = SHIFTED_LOGPROBS if shifted else ""
        except Unreachable:
            raise
        except AdaptdocsError:
            pass
        self._scoring = why
        return why


def _first_choice(data: dict, base_url: str) -> dict:
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise AdaptdocsError(f"{base_url}/completions answered without choices: {json.dumps(data)[:200]}",
                             "is this an OpenAI-compatible server?")
    return choices[0]


def _continuation_logprobs(logprobs: dict, start: int, end: int) -> list[float | None]:
    """Log-probabilities of the echoed tokens that hold characters start..end of the prompt.

    A token straddling the context/continuation boundary counts for the continuation (it holds
    some of its characters); tokens generated after the prompt are left out.
    """
    offsets, values = logprobs.get("text_offset") or [], logprobs["token_logprobs"]
    tokens = logprobs.get("tokens") or []
    picked = []
    for i, (offset, value) in enumerate(zip(offsets, values)):
        following = offsets[i + 1] if i + 1 < len(offsets) else offset + len(tokens[i] if i < len(tokens) else "")
        if offset >= end:
            break
        if following > start:
            picked.append(value)
    return picked


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string (servers cut there already; some leave it in)."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=None)
    return text if cut is None else text[:cut]


def _error_text(response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:200]
    if isinstance(data, dict) and ("detail" in data or "message" in data or error):
        return str(data.get("detail") or data.get("message") or error)[:200]
    return json.dumps(data)[:200]


def _reason(e: Exception) -> str:
    text = str(e)
    return "connection refused" if "refused" in text.lower() else (text or type(e).__name__)


def _backoff(attempt: int, response) -> float:
    delay = BACKOFF_SECONDS * 2 ** (attempt - 1)
    if response is not None and response.status_code == 429:
        try:
            delay = max(delay, min(float(response.headers.get("retry-after", 0)), MAX_RETRY_AFTER_SECONDS))
        except ValueError:
            pass
    return delay
