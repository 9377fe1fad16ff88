"""Augmentation through an OpenAI-compatible server: requests in flight 1 vs 8, and the client's own cost.

The sample corpus's local items (sentence × template, the prompts `adaptdocs augment` sends) go
to the server at each concurrency, each run in a fresh copy of one ingested workspace. Measured:
wall time and its ratio; the seconds requests spent waiting on the server; and the client
overhead per request, the time in our code rather than waiting: at concurrency 1 nothing
overlaps, so it is (wall − waiting) / requests, for the whole augment run (planning, filters,
saving) and inside `generate` alone. A stub server that answers at once gives the cost of one
round trip through the client stack (httpx, JSON, thread pool), the floor the figures sit on.

    python benchmarks/bench_server.py --server-python .server-venv/bin/python          # starts the server
    python benchmarks/bench_server.py --url http://127.0.0.1:8765/v1/smollm2 --limit 16   # a running one
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ingested(tmp: Path):
    from adaptdocs.config import IngestConfig
    from adaptdocs.ingest import ingest_paths
    from adaptdocs.workspace import Workspace

    ws = Workspace(tmp / "ingested")
    ingest_paths(ws, [ROOT / "sample_corpus" / "docs"], IngestConfig())
    return ws.root


def run_augment(template: Path, url: str, concurrency: int, limit: int, batch_size: int) -> dict:
    from adaptdocs.augment import augment
    from adaptdocs.config import AugmentConfig, ModelConfig
    from adaptdocs.models.openai_compat import OpenAICompatModel, parse_spec
    from adaptdocs.workspace import Workspace

    root = template.parent / f"c{concurrency}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(template, root)
    ws = Workspace(root)
    model = OpenAICompatModel(*parse_spec(url), concurrency=concurrency)
    generate, in_generate = model.generate, [0.0]

    def timed_generate(*args, **kwargs):
        start = time.perf_counter()
        try:
            return generate(*args, **kwargs)
        finally:
            in_generate[0] += time.perf_counter() - start

    model.generate = timed_generate
    model.stats.update(requests=0, retries=0, wait_seconds=0.0)
    config = AugmentConfig(strategy="local", limit=limit, batch_size=batch_size,
                           model=ModelConfig(f"openai:{url}", concurrency=concurrency))
    start = time.perf_counter()
    summary = augment(ws, config, model=model)
    wall = time.perf_counter() - start
    s = summary.strategies["local"]
    n = model.stats["requests"]
    result = {"concurrency": concurrency, "items": s.done, "requests": n, "retries": model.stats["retries"],
              "wall_s": round(wall, 2), "in_generate_s": round(in_generate[0], 2),
              "waiting_s": round(model.stats["wait_seconds"], 2),
              "generated_tokens": s.usage.generated_tokens, "prompt_tokens": s.usage.prompt_tokens,
              "kept": sum(s.kept.values())}
    if concurrency == 1:
        result["overhead_ms_per_request"] = {
            "augment": round(1000 * (wall - model.stats["wait_seconds"]) / n, 2),
            "generate": round(1000 * (in_generate[0] - model.stats["wait_seconds"]) / n, 2),
        }
    return result


class Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    # Headers and body in one segment, sent at once: otherwise Nagle's algorithm meets the client's
    # delayed ACK and every request waits ~40 ms, a cost of this stub, not of the client.
    wbufsize = -1
    disable_nagle_algorithm = True
    body = json.dumps({"choices": [{"text": " The team owns the tool.", "index": 0}],
                       "usage": {"prompt_tokens": 300, "completion_tokens": 8}}).encode()

    def do_GET(self):
        self._send(json.dumps({"data": [{"id": "stub"}]}).encode())

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._send(self.body)

    def _send(self, data: bytes):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def client_round_trip(n: int = 400) -> dict:
    """Milliseconds per request through the client stack against a server that answers at once."""
    from adaptdocs.models.openai_compat import OpenAICompatModel

    server = ThreadingHTTPServer(("127.0.0.1", 0), Instant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        model = OpenAICompatModel(f"http://127.0.0.1:{server.server_address[1]}/v1", "stub", concurrency=1)
        prompt = "Fact: The Plosk tool is owned by the Mubadra team.\nRephrased:"
        model.generate([prompt] * 20, stop=["\n"])  # warm: connection, imports
        start = time.perf_counter()
        model.generate([prompt] * n, prefix="x" * 1500, stop=["\n"])
        return {"requests": n, "ms_per_request": round(1000 * (time.perf_counter() - start) / n, 3)}
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server, http://HOST:PORT/v1/MODEL [default: start one]")
    parser.add_argument("--server-python", default=".server-venv/bin/python", help="python of the server's venv")
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--limit", type=int, default=64, help="local items per run")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts per augment batch")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        url = args.url
        if url is None:
            import llama_server

            url = stack.enter_context(llama_server.serving(args.server_python, args.port))
        template = ingested(Path(tmp))
        runs = [run_augment(template, url, c, args.limit, args.batch_size) for c in args.concurrency]
        results = {"url": url, "cpus": os.cpu_count(), "limit": args.limit, "batch_size": args.batch_size, "runs": runs,
                   "speedup": round(runs[0]["wall_s"] / runs[-1]["wall_s"], 2) if len(runs) > 1 else None,
                   "stub_round_trip": client_round_trip()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
