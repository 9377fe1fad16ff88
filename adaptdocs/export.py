"""Export an adapter for other tools: merged into its base model, as a GGUF file, or as an Ollama model.

- `merged`: the base model with the LoRA update merged into its weights, saved with its tokenizer as
  a standard Transformers directory (`AutoModelForCausalLM.from_pretrained` loads it).
- `gguf`: that merged model as one GGUF file, written by llama.cpp's own `convert_hf_to_gguf.py`.
- `ollama`: a directory with that GGUF as `model.gguf` and a `Modelfile` whose TEMPLATE, SYSTEM and
  stop tokens are derived from the tokenizer's chat template.

Precision: the merge is done and saved in fp32. LoRA updates are small next to the weights they are
added to; rounding the merged weights to bf16 (8 significant bits) loses part of them, so an fp32
export is the one that answers as the adapter does. The default GGUF type is f32 for the same reason;
`gguf_type="f16"`, `"bf16"` or `"q8_0"` trade exactness for size.

Every export is written into a temporary path beside OUT and renamed into place at the end, so OUT
is either the previous content or the complete new export, never half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .errors import AdaptdocsError
from .progress import NullReporter, Reporter
from .atomic import replace_dir, temp_dir

FORMATS = ("merged", "gguf", "ollama")
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")  # --outtype values of convert_hf_to_gguf.py
# The converter comes from this llama-cpp-python source release (it vendors llama.cpp); see the Makefile.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
CONVERTER_ENV = "ADAPTDOCS_LLAMA_CPP"
CONVERTER_SCRIPT = "convert_hf_to_gguf.py"
RECORD = "adaptdocs-export.json"  # written into directory exports; --force replaces only such directories
GGUF_NAME = "model.gguf"


@dataclass
class ExportResult:
    format: str
    out: Path
    adapter_dir: Path
    base_model: str  # the base model's name, as load_pretrained reports it
    dtype: str  # of the merged weights
    gguf_type: str | None
    files: dict[str, int] = field(default_factory=dict)  # path relative to OUT's parent -> bytes
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def export(
    ws,
    adapter: str,
    fmt: str,
    out: str | os.PathLike,
    *,
    force: bool = False,
    gguf_type: str = "f32",
    reporter: Reporter = NullReporter(),
) -> ExportResult:
    """Export the workspace's adapter `adapter` as `fmt` to `out`.

    Args:
        ws: the Workspace holding `adapters/<adapter>/`.
        adapter: the adapter's training set name (plain, local, global, both).
        fmt: merged (a Transformers directory), gguf (a .gguf file) or ollama (a directory with
            model.gguf and a Modelfile).
        out: the directory (merged, ollama) or file (gguf) to write.
        force: replace `out` if it exists (a directory only if it is an earlier adaptdocs export).
        gguf_type: the GGUF weight type for gguf and ollama: f32 (default, answers as the
            adapter does), f16, bf16 or q8_0.
        reporter: told what is being done.
    """
    start = time.perf_counter()
    if fmt not in FORMATS:
        raise AdaptdocsError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if gguf_type not in GGUF_TYPES:
        raise AdaptdocsError(f"--gguf-type must be one of {', '.join(GGUF_TYPES)}, not {gguf_type!r}")
    adapter_dir, record = find_adapter(ws, adapter)
    out = Path(out).expanduser().absolute()
    check_target(out, fmt, force)
    converter = find_converter() if fmt != "merged" else None  # before the slow part, not after it

    spec = record["request"].get("model")
    modelfile = None
    if fmt == "ollama":  # needs only the tokenizer: an untranslatable chat template fails before the slow part
        tokenizer, name = _base_tokenizer(spec, reporter)
        comment = f"adaptdocs {__version__} export: {name} with the {adapter!r} adapter merged"
        modelfile = ollama_modelfile(tokenizer, f"./{GGUF_NAME}", comment)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(out.parent, f".{out.name}.tmp-")
    try:
        merged = tmp if fmt == "merged" else tmp / "merged"
        info = merge_adapter(adapter_dir, spec, merged, reporter)
        result = ExportResult(fmt, out, adapter_dir, info.name, "fp32", None if fmt == "merged" else gguf_type)
        if fmt != "merged":
            convert_to_gguf(converter, merged, tmp / GGUF_NAME, gguf_type, model_name=f"{info.name}-{adapter}",
                            reporter=reporter)
            shutil.rmtree(merged)
        if fmt == "gguf":
            os.replace(tmp / GGUF_NAME, out)
            result.files = {out.name: out.stat().st_size}
        else:
            if modelfile is not None:
                (tmp / "Modelfile").write_text(modelfile)
            provenance = _record(adapter, adapter_dir, record, result, converter)
            (tmp / RECORD).write_text(json.dumps(provenance, sort_keys=True, indent=2))
            replace_dir(tmp, out)
            result.files = {f"{out.name}/{p.name}": p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = round(time.perf_counter() - start, 2)
    reporter.log(f"Exported {adapter} as {fmt} to {out}")
    return result


# -- inputs and target -------------------------------------------------------------------------


def find_adapter(ws, adapter: str) -> tuple[Path, dict]:
    """The adapter directory and its `adaptdocs.json`, or an error saying how to make one."""
    path = ws.adapter_dir(adapter)
    hint = f"train it first: adaptdocs train --data {adapter}"
    if not (path / "adapter_config.json").is_file():
        have = sorted(p.parent.name for p in ws.adapters_dir.glob("*/adapter_config.json"))
        if have:
            hint += f"; this workspace has: {', '.join(have)}"
        raise AdaptdocsError(f"no adapter {adapter!r} in workspace {ws.root}", hint)
    try:
        record = json.loads((path / "adaptdocs.json").read_text())
        record["request"]["model"]
    except (OSError, ValueError, KeyError, TypeError):
        raise AdaptdocsError(f"{path} has no readable adaptdocs.json naming its base model", hint) from None
    return path, record


def check_target(out: Path, fmt: str, force: bool) -> None:
    """Refuse an existing OUT unless `force`; even then, replace only a file for gguf and only an
    earlier export (or an empty directory) for the directory formats."""
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise AdaptdocsError(f"{out} already exists", "pass --force to replace it, or choose another OUT")
    if fmt == "gguf":
        if not out.is_file():
            raise AdaptdocsError(f"{out} is not a file; --format gguf writes one .gguf file", "choose another OUT")
        return
    if not out.is_dir() or out.is_symlink():
        raise AdaptdocsError(f"{out} is not a directory; --format {fmt} writes a directory", "choose another OUT")
    if any(out.iterdir()) and not (out / RECORD).is_file():
        raise AdaptdocsError(
            f"{out} is not an adaptdocs export (no {RECORD}); --force replaces only those", "choose another OUT"
        )


# -- merged ------------------------------------------------------------------------------------


def merge_adapter(adapter_dir: Path, spec: str | None, out: Path, reporter: Reporter = NullReporter()):
    """Load the base model in fp32 on the CPU, merge the adapter, save model and tokenizer to `out`.

    Args:
        adapter_dir: a PEFT adapter directory.
        spec: the base model spec the adapter was trained on (None: the embedded default).
        out: the directory to save into (created if missing).
        reporter: told what is being done.

    Returns:
        The base model's ModelInfo.
    """
    from peft import PeftModel

    from .models import load_pretrained

    model, tokenizer, info = load_pretrained(spec, quantize="fp32", device="cpu", reporter=reporter)
    reporter.log(f"Merging {adapter_dir.name} into {info.name} (fp32)")
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return info


# -- gguf --------------------------------------------------------------------------------------


def find_converter() -> Path:
    """The directory holding llama.cpp's convert_hf_to_gguf.py (with its conversion/ and gguf-py/).

    `$ADAPTDOCS_LLAMA_CPP` (a llama.cpp checkout works), else `<prefix>/share/adaptdocs/llama.cpp`,
    where `make install-export` puts the converter of the llama-cpp-python source release.
    """
    import importlib.util

    configured = os.environ.get(CONVERTER_ENV)
    path = Path(configured).expanduser() if configured else Path(sys.prefix) / "share" / "adaptdocs" / "llama.cpp"
    if not (path / CONVERTER_SCRIPT).is_file():
        raise AdaptdocsError(
            f"the GGUF converter (llama.cpp's {CONVERTER_SCRIPT}) is not installed at {path}",
            f"run `make install-export`, or set {CONVERTER_ENV} to a llama.cpp checkout",
        )
    if importlib.util.find_spec("sentencepiece") is None:
        raise AdaptdocsError("the GGUF converter needs the sentencepiece package", "pip install 'adaptdocs[export]'")
    return path


def convert_to_gguf(
    converter: Path, model_dir: Path, out_file: Path, gguf_type: str = "f32", *, model_name: str | None = None,
    reporter: Reporter = NullReporter(),
) -> None:
    """Run llama.cpp's converter on a Transformers directory (in a child process, as its CLI).

    Args:
        converter: the directory find_converter() returns.
        model_dir: a directory saved with save_pretrained (model and tokenizer).
        out_file: the .gguf file to write.
        gguf_type: f32, f16, bf16 or q8_0.
        model_name: the name written into the GGUF metadata.
        reporter: told what is being done.
    """
    reporter.log(f"Converting to GGUF ({gguf_type}) with llama.cpp's {CONVERTER_SCRIPT}")
    command = [sys.executable, str(converter / CONVERTER_SCRIPT), str(model_dir), "--outfile", str(out_file),
               "--outtype", gguf_type]
    if model_name:
        command += ["--model-name", model_name]
    # The script puts its own gguf-py first on sys.path (it may be newer than the installed gguf) unless told not to.
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out_file.is_file():
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise AdaptdocsError(
            f"llama.cpp's {CONVERTER_SCRIPT} failed: {lines[-1] if lines else f'exit status {done.returncode}'}",
            "is the base model's architecture one llama.cpp supports?",
        )


# -- ollama ------------------------------------------------------------------------------------

# Message contents used to see how a chat template wraps each message; multi-line, with edge
# whitespace, so a template that trims or rewrites contents is noticed (Go templates cannot do that).
_SYSTEM, _USER, _ASSISTANT, _USER2 = (
    f"\n adaptdocs {name} probe.\nline two " for name in ("system", "user", "assistant", "second user")
)


@dataclass
class ChatFormat:
    """A chat template of the form `begin + (open(role) + content + close)* + generation`, where
    open(role) = `role_prefix + role + role_suffix`; `system` is the default system prompt, if any."""

    begin: str
    role_prefix: str
    role_suffix: str
    close: str
    generation: str
    system: str | None

    def render(self, messages: list[dict[str, str]]) -> str:
        """What Ollama renders with go_template() (a default system prompt is Ollama's SYSTEM)."""
        if self.system is not None and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": self.system}, *messages]
        body = "".join(f"{self.role_prefix}{m['role']}{self.role_suffix}{m['content']}{self.close}" for m in messages)
        return self.begin + body + self.generation

    def go_template(self) -> str:
        return (f"{self.begin}{{{{ range .Messages }}}}{self.role_prefix}{{{{ .Role }}}}{self.role_suffix}"
                f"{{{{ .Content }}}}{self.close}{{{{ end }}}}{self.generation}")


def chat_format(tokenizer) -> ChatFormat:
    """Read the per-message wrapping off the tokenizer's chat template by rendering probe messages,
    then check the result renders several conversations exactly as the template does.

    Raises AdaptdocsError for a model without a chat template, or one this form cannot express.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise AdaptdocsError("the model has no chat template, so the Modelfile cannot have one",
                             "export --format gguf and write the Modelfile yourself")
    untranslatable = AdaptdocsError(
        "cannot translate the model's chat template into an Ollama TEMPLATE (only templates that wrap "
        "each message as prefix + role + suffix + content + end are translated)",
        "export --format gguf and write the Modelfile's TEMPLATE yourself",
    )

    def render(messages: list[tuple[str, str]]) -> str:
        return tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in messages], tokenize=False,
                                             add_generation_prompt=True)

    full = [("system", _SYSTEM), ("user", _USER), ("assistant", _ASSISTANT), ("user", _USER2)]
    try:
        text = render(full)
        alone = render([("user", _USER)])
    except Exception:  # a template may raise for a conversation it does not accept (e.g. no system role)
        raise untranslatable from None
    segments = _split(text, [c for _, c in full])
    if segments is None:
        raise untranslatable
    heads = []
    for (role, _), segment in zip(full, segments):  # each: the close of the previous message + the opening of this one
        at = segment.rfind(role)
        if at < 0:
            raise untranslatable
        heads.append((segment[:at], segment[at + len(role) :]))
    (first, suffix), *rest = heads
    between = {h for h, _ in rest}
    if len(between) != 1 or {s for _, s in rest} != {suffix}:
        raise untranslatable
    between = between.pop()  # close + role_prefix
    n = _common_suffix(first, between)
    begin, role_prefix, close = first[: len(first) - n], first[len(first) - n :], between[: len(between) - n]
    if not segments[-1].startswith(close):
        raise untranslatable
    fmt = ChatFormat(begin, role_prefix, suffix, close, segments[-1][len(close) :], None)
    if alone != fmt.render([{"role": "user", "content": _USER}]):
        # A default system prompt, added when the conversation has none (as SmolLM2's template does)?
        opening = begin + role_prefix + "system" + suffix
        end = alone.find(close + role_prefix + "user" + suffix + _USER)
        if not alone.startswith(opening) or end < 0:
            raise untranslatable
        fmt.system = alone[len(opening) : end]
    checks = [[("user", _USER)], full, full[1:], full[:2], full[1:3]]
    for conversation in checks:
        if render(conversation) != fmt.render([{"role": r, "content": c} for r, c in conversation]):
            raise untranslatable
    literal = fmt.begin + fmt.role_prefix + fmt.role_suffix + fmt.close + fmt.generation + (fmt.system or "")
    if "{{" in literal or '"""' in literal:
        raise untranslatable
    return fmt


def stop_tokens(tokenizer, fmt: ChatFormat) -> list[str]:
    """The special tokens that end a turn or open the next one (in order of use), then the eos token."""
    markup = fmt.close + fmt.role_prefix + fmt.generation
    stops = sorted((t for t in tokenizer.get_added_vocab() if t.strip() and t in markup), key=markup.find)
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return stops


def ollama_modelfile(tokenizer, gguf: str, comment: str = "") -> str:
    """An Ollama Modelfile for `gguf` with the tokenizer's chat template, default system prompt and stops.

    Args:
        tokenizer: the exported model's tokenizer (its chat template is translated, see chat_format).
        gguf: the FROM path, relative to the Modelfile (e.g. ./model.gguf).
        comment: a first comment line (what this is).
    """
    fmt = chat_format(tokenizer)
    lines = [f"# {comment}"] if comment else []
    lines += [f"FROM {gguf}", f'TEMPLATE """{fmt.go_template()}"""']
    if fmt.system is not None:
        lines.append(f'SYSTEM """{fmt.system}"""')
    lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in stop_tokens(tokenizer, fmt)]
    return "\n".join(lines) + "\n"


def _split(text: str, markers: list[str]) -> list[str] | None:
    """`text` cut at each marker, in order (len(markers) + 1 pieces), or None if one is missing or repeated."""
    if any(text.count(m) != 1 for m in markers):
        return None
    pieces, rest = [], text
    for m in markers:
        head, sep, rest = rest.partition(m)
        if not sep:
            return None
        pieces.append(head)
    return pieces + [rest]


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    return n


def _base_tokenizer(spec: str | None, reporter: Reporter):
    """The base model's tokenizer (the one the merged export saves) and the model's name."""
    from transformers import AutoTokenizer

    from .models import resolve_model

    resolved = resolve_model(spec, reporter)
    return AutoTokenizer.from_pretrained(resolved.path), resolved.name


def _record(adapter: str, adapter_dir: Path, record: dict, result: ExportResult, converter: Path | None) -> dict:
    """What `adaptdocs-export.json` says: which adapter on which base, in what form, made by what."""
    return {
        "adaptdocs_version": __version__,
        "adapter": {"name": adapter, "path": str(adapter_dir), "steps": record.get("steps"),
                    "training_set_sha256": record.get("training_set", {}).get("sha256")},
        "base_model": {"name": result.base_model, "requested": record["request"].get("model")},
        "format": result.format,
        "dtype": result.dtype,
        "gguf_type": result.gguf_type,
        "converter": None if converter is None else str(converter / CONVERTER_SCRIPT),
    }
