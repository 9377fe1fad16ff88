"""Serve the embedded SmolLM2 GGUF with llama-cpp-python's OpenAI-compatible server while a command runs.

    python benchmarks/llama_server.py --server-python .server-venv/bin/python -- pytest -m server

starts the server on 127.0.0.1:PORT (and, with --no-logprobs-port, a second one without logits),
waits until it lists its model, runs the command with ADAPTDOCS_TEST_SERVER_URL (and
ADAPTDOCS_TEST_SERVER_NO_LOGPROBS_URL) set to `http://127.0.0.1:PORT/v1/smollm2`, then stops the
servers however the command ended, and exits with the command's status. The server lives in its
own virtual environment (`make install-server`), so the product's install stays lean.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

MODEL_ALIAS = "smollm2"


@contextmanager
def serving(server_python: str, port: int, *, logits: bool = True, threads: int | None = None, log: Path | None = None):
    """A llama-cpp-python server on 127.0.0.1:port serving the embedded GGUF; yields its `http://…/v1/MODEL`."""
    from adaptdocs.models.loading import default_gguf

    command = [server_python, "-m", "llama_cpp.server", "--model", str(default_gguf()), "--model_alias", MODEL_ALIAS,
               "--host", "127.0.0.1", "--port", str(port)]
    if not logits:
        command += ["--logits_all", "false"]
    if threads:
        command += ["--n_threads", str(threads)]
    log = log or Path(tempfile.mkstemp(prefix=f"llama-server-{port}-", suffix=".log")[1])
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"the server on port {port} did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/v1/{MODEL_ALIAS}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-python", default=".server-venv/bin/python", help="python of the server's venv")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--no-logprobs-port", type=int, help="also start a server without logits on this port")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    with ExitStack() as stack:
        env = {**os.environ, "ADAPTDOCS_TEST_SERVER_URL": stack.enter_context(serving(args.server_python, args.port))}
        if args.no_logprobs_port:
            env["ADAPTDOCS_TEST_SERVER_NO_LOGPROBS_URL"] = stack.enter_context(
                serving(args.server_python, args.no_logprobs_port, logits=False))
        code = subprocess.run(command, env=env).returncode
    sys.exit(code)


if __name__ == "__main__":
    main()
