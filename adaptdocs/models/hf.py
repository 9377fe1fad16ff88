"""In-process transformers backend: batched generation and scoring with a shared-prefix KV cache.

Tokenization rule (generation and scoring alike): the prefix is encoded with the tokenizer's
special tokens (a BOS where the tokenizer adds one, even for an empty prefix); prompts, contexts
and continuations are encoded without special tokens and concatenated as token ids after it
(a continuation carries its own leading space). So `prefix` + `context` are not re-tokenized
across their boundary: end a prefix with a newline or space as a prompt would.

Prefix reuse: the prefix minus its last token is run once and its keys/values are kept; each row
then starts with the prefix's last token, so every row has at least one token to predict from.
Where the model takes it (shared_prefix.py), every row reads the one cached prefix through the
shared-prefix attention and a row's cache holds only its own tokens; otherwise the prefix's
keys/values are expanded into every row's cache. Rows are left-padded and position ids continue
after the prefix, so padding never shifts a row's positions.
The last prefix's cache is kept between calls (keyed by its text): HFModel assumes the wrapped
weights do not change; call `forget_prefix()` after changing them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import AdaptdocsError
from ..progress import NullReporter, Reporter
from .base import Model, ModelInfo, Usage
from .shared_prefix import use_shared_prefix_attention


@dataclass
class _Prefix:
    text: str
    lead: list[int]  # ids placed at the start of every row (the prefix's last token, or all of it)
    kv: list | None  # per layer (keys, values) of the cached part, batch 1; None when nothing is cached
    cached_len: int  # tokens held in `kv`


def _contiguous_input(module, args):
    return (args[0].contiguous(), *args[1:])


class HFModel(Model):
    """A transformers causal LM (or a PeftModel over one) behind the Model interface.

    Args:
        hf_model: the loaded model; put in eval mode during calls, its mode restored after.
        tokenizer: its tokenizer.
        info: what to report about it; default derived from the model.
        reuse_prefix: encode the prefix once and reuse its cache (False re-encodes it in every
            row: the reference path for tests and benchmarks, same tokens, same results).
    """

    can_train = True
    can_score = True

    @classmethod
    def load(cls, spec: str | None, *, quantize: str = "auto", device: str = "auto", adapter=None,
             reporter: Reporter = NullReporter(), concurrency: int = 4) -> HFModel:
        """Load `spec` with transformers (see loading.load_pretrained), with a PEFT adapter on top if given."""
        from pathlib import Path

        from .loading import load_pretrained

        if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
            raise AdaptdocsError(f"{adapter} is not a PEFT adapter directory (no adapter_config.json)", "run adaptdocs train first")
        model, tokenizer, info = load_pretrained(spec, quantize=quantize, device=device, reporter=reporter)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
            if info.dtype in ("bf16", "fp32"):
                # Unmerged LoRA layers run two extra small matmuls per linear layer, several times
                # slower for scoring here; merged weights give the same function at base-model speed.
                model = model.merge_and_unload()
            model.eval()
            info.adapter = str(adapter)
        return cls(model, tokenizer, info)

    def __init__(self, hf_model, tokenizer, info: ModelInfo | None = None, *, reuse_prefix: bool = True):
        self.model = hf_model
        self.tokenizer = tokenizer
        self.info = info or describe(hf_model, tokenizer)
        self.reuse_prefix = reuse_prefix
        self.device = next(hf_model.parameters()).device
        eos = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos if eos is not None else 0)
        generation_eos = getattr(getattr(hf_model, "generation_config", None), "eos_token_id", None)
        self.eos_ids = {i for i in (eos, *(generation_eos if isinstance(generation_eos, list) else [generation_eos])) if i is not None}
        self._prefix: _Prefix | None = None
        # Tests and benchmarks compare against the copying path by leaving reuse_prefix on and this off.
        self.shared_prefix = reuse_prefix and use_shared_prefix_attention(hf_model)
        head = hf_model.get_output_embeddings()
        if head is not None:
            # `logits_to_keep` hands the head a strided slice of the hidden states. With a frozen
            # bf16 weight (requires_grad False, as after merging an adapter) torch 2.13's CPU
            # linear takes a path ~300x slower for a strided input than for a contiguous one.
            head.register_forward_pre_hook(_contiguous_input)

    # -- the Model interface ------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise AdaptdocsError(f"{self.info.name} has no chat template", "use a completion-mode template")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

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
        on_text: Callable[[int, str], None] | None = None,
    ) -> tuple[list[str], Usage]:
        """See Model.generate. Generation also ends at EOS and at the context length.

        Sampling draws each prompt's tokens from its own generator seeded by (seed, prompt index),
        so a prompt's text does not depend on the batch it lands in.

        `on_text(prompt index, new text)` streams each prompt's text as it is generated; the pieces
        of a prompt join to exactly its returned text (a tail that could begin a stop string is
        held back until it is known not to).
        """
        start = time.perf_counter()
        usage = Usage()
        with self._session():
            pre, prefix_encoded = self._prefix_for(prefix)
            usage.prompt_tokens = prefix_encoded
            # A row needs a token to continue from: with no prefix, no BOS and an empty prompt, EOS.
            bodies = [pre.lead + self._encode(p) or [self._start_id()] for p in prompts]
            for i, body in enumerate(bodies):
                self._check_length(pre.cached_len + len(body), f"prompt {i}")
            outputs: list[str] = [""] * len(prompts)
            for batch in _batches(bodies, batch_size):
                texts, generated = self._generate_batch(
                    [bodies[i] for i in batch], batch, pre, max_new_tokens, temperature, seed, tuple(stop),
                    _TextStream(on_text, tuple(stop)) if on_text else None,
                )
                for i, text in zip(batch, texts):
                    outputs[i] = text
                usage.prompt_tokens += sum(len(bodies[i]) for i in batch)
                usage.generated_tokens += generated
                reporter.advance(len(batch), _rate(usage, start))
        return outputs, self._finish(usage, pre, prefix_encoded, len(prompts), start)

    def loglikelihood(
        self,
        requests: Sequence[tuple[str, str]],
        *,
        prefix: str = "",
        batch_size: int = 32,
        reporter: Reporter = NullReporter(),
    ) -> tuple[list[float], Usage]:
        """See Model.loglikelihood; the tokenization rule is in this module's docstring."""
        import torch

        start = time.perf_counter()
        usage = Usage()
        with self._session():
            pre, prefix_encoded = self._prefix_for(prefix)
            usage.prompt_tokens = prefix_encoded
            rows, cont_lens = [], []
            for i, (context, continuation) in enumerate(requests):
                head = pre.lead + self._encode(context)
                if not head:  # nothing to predict the first token from: condition on EOS, as lm-eval does
                    head = [self._start_id()]
                cont = self._encode(continuation)
                rows.append(head + cont)
                cont_lens.append(len(cont))
                self._check_length(pre.cached_len + len(rows[-1]), f"request {i}")
            scores: list[float] = [0.0] * len(rows)
            for batch in _batches(rows, batch_size):
                longest_cont = max(cont_lens[i] for i in batch)
                logits, *_ = self._prefill([rows[i] for i in batch], pre, keep=longest_cont + 1)
                logprobs = torch.log_softmax(logits.float(), dim=-1)
                for b, i in enumerate(batch):
                    n = cont_lens[i]
                    if n:
                        targets = torch.tensor(rows[i][-n:], device=logprobs.device)
                        scores[i] = logprobs[b, -n - 1 : -1].gather(-1, targets[:, None]).sum().item()
                usage.prompt_tokens += sum(len(rows[i]) for i in batch)
                reporter.advance(len(batch), _rate(usage, start))
        return scores, self._finish(usage, pre, prefix_encoded, len(rows), start)

    def forget_prefix(self) -> None:
        """Drop the kept prefix cache (after the wrapped model's weights changed)."""
        self._prefix = None

    # -- internals ------------------------------------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids if text else []

    def _check_length(self, tokens: int, what: str) -> None:
        if tokens > self.info.context_length:
            raise AdaptdocsError(
                f"{what} is {tokens} tokens with the prefix, longer than {self.info.name}'s context of "
                f"{self.info.context_length}",
                "shorten the prefix or prompt (for ICL: fewer documents, or retrieval)",
            )

    def _prefix_for(self, prefix: str) -> tuple[_Prefix, int]:
        """The prefix split into a cached part and a per-row lead; returns it and the tokens encoded now."""
        import torch
        from transformers import DynamicCache

        if self._prefix is not None and self._prefix.text == prefix and self.reuse_prefix:
            return self._prefix, 0
        ids = self.tokenizer(prefix, add_special_tokens=True).input_ids if prefix else self._special_head()
        self._check_length(len(ids), "the prefix")
        if not self.reuse_prefix or len(ids) < 2:
            return _Prefix(prefix, ids, None, 0), 0
        cache = DynamicCache()
        with self._memory_guard(len(ids) - 1):
            self.model(
                input_ids=torch.tensor([ids[:-1]], device=self.device), cache=cache, use_cache=True, logits_to_keep=1
            )
        self._prefix = _Prefix(prefix, ids[-1:], [(layer.keys, layer.values) for layer in cache.layers], len(ids) - 1)
        return self._prefix, len(ids) - 1

    def _start_id(self) -> int:
        return self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else self.pad_id

    def _special_head(self) -> list[int]:
        """The special tokens the tokenizer puts before any text (a BOS, or nothing)."""
        return self.tokenizer("", add_special_tokens=True).input_ids

    def _prefill(self, rows: list[list[int]], pre: _Prefix, keep: int):
        """One forward over left-padded `rows` after the prefix cache.

        Returns (logits of the last `keep` positions [B, keep, V], cache, attention mask, next
        position per row, the forward's prefix argument). The mask covers the cache's columns:
        the rows' own tokens when the prefix is shared, else [prefix ones | padding zeros | row ones].
        """
        import torch
        from transformers import DynamicCache

        width = max(len(r) for r in rows)
        P = pre.cached_len
        shared = pre.kv is not None and self.shared_prefix
        cached_columns = 0 if shared else P
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), cached_columns + width), dtype=torch.long)
        mask[:, :cached_columns] = 1
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):
            input_ids[b, width - len(row) :] = torch.tensor(row)
            mask[b, cached_columns + width - len(row) :] = 1
            positions[b, width - len(row) :] = torch.arange(P, P + len(row))
        prefix_argument = {"shared_prefix": pre.kv} if shared else {}
        if pre.kv is not None and not shared:
            n = len(rows)
            cache = DynamicCache(ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in pre.kv])
        else:
            cache = DynamicCache()
        mask, positions = mask.to(self.device), positions.to(self.device)
        with self._memory_guard(len(rows) * (P + width)):
            out = self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=keep,
                **prefix_argument,
            )
        return out.logits, out.cache, mask, positions[:, -1] + 1, prefix_argument

    def _generate_batch(self, rows, indices, pre, max_new_tokens, temperature, seed, stop, stream=None):
        import torch

        logits, cache, mask, next_pos, prefix_argument = self._prefill(rows, pre, keep=1)
        logits = logits[:, -1]
        steps = min(max_new_tokens, self.info.context_length - pre.cached_len - max(len(r) for r in rows))
        generators = None
        if temperature > 0:
            generators = [torch.Generator(device=self.device).manual_seed(seed * 1_000_003 + i) for i in indices]
        new_ids: list[list[int]] = [[] for _ in rows]
        active = list(range(len(rows)))  # batch rows still generating, in cache order
        for step in range(steps):
            if temperature > 0:
                probs = torch.softmax(logits.float() / temperature, dim=-1)
                picked = [int(torch.multinomial(probs[b], 1, generator=generators[r]).item()) for b, r in enumerate(active)]
            else:
                picked = logits.argmax(dim=-1).tolist()
            keep = []
            for b, (r, token) in enumerate(zip(active, picked)):
                if token in self.eos_ids:
                    continue
                new_ids[r].append(token)
                if stop or stream:
                    text = self.tokenizer.decode(new_ids[r], skip_special_tokens=True)
                    if stop and _first_stop(text, stop) is not None:
                        continue
                    if stream:
                        stream.partial(indices[r], text)
                keep.append(b)
            if not keep or step == steps - 1:
                break
            if len(keep) < len(active):
                cache.batch_select_indices(torch.tensor(keep, device=self.device))
                mask, next_pos = mask[keep], next_pos[keep]
                active = [active[b] for b in keep]
                picked = [picked[b] for b in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            with self._memory_guard(len(active) * mask.shape[1]):
                out = self.model(
                    input_ids=torch.tensor(picked, device=self.device)[:, None],
                    attention_mask=mask,
                    position_ids=next_pos[:, None],
                    cache=cache,
                    use_cache=True,
                    **prefix_argument,
                )
            logits, cache, next_pos = out.logits[:, -1], out.cache, next_pos + 1
        texts = []
        for ids in new_ids:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            cut = _first_stop(text, stop) if stop else None
            texts.append(text if cut is None else text[:cut])
        for r, text in enumerate(texts if stream else ()):
            stream.send(indices[r], text)
        return texts, sum(len(ids) for ids in new_ids)

    def _finish(self, usage: Usage, pre: _Prefix, prefix_encoded: int, rows: int, start: float) -> Usage:
        # prompt_tokens + cached_tokens = what re-encoding the prefix in every row would have cost.
        usage.cached_tokens = max(0, pre.cached_len * rows - prefix_encoded)
        usage.seconds = time.perf_counter() - start
        usage.flops = 2.0 * self.info.parameters * (usage.prompt_tokens + usage.generated_tokens)
        return usage

    @contextmanager
    def _session(self):
        import torch

        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.model.train(was_training)

    @contextmanager
    def _memory_guard(self, tokens: int):
        import torch

        try:
            yield
        except torch.OutOfMemoryError:
            raise _out_of_memory(self.info, tokens) from None
        except RuntimeError as e:
            if "alloc" in str(e) or "out of memory" in str(e):
                raise _out_of_memory(self.info, tokens) from None
            raise


class _TextStream:
    """Hands `on_text(prompt index, new text)` each row's text as it grows.

    A partial text keeps back its tail while that tail could still change: an unfinished multi-byte
    character (decoded as U+FFFD) or the start of a stop string; `send` of the final text flushes it.
    """

    def __init__(self, on_text: Callable[[int, str], None], stop: Sequence[str]):
        self.on_text, self.stop, self.sent = on_text, stop, {}

    def partial(self, index: int, text: str) -> None:
        text = text.rstrip("\ufffd")
        held = max((n for s in self.stop for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
        self.send(index, text[: len(text) - held])

    def send(self, index: int, text: str) -> None:
        sent = self.sent.get(index, 0)
        if len(text) > sent:
            self.on_text(index, text[sent:])
            self.sent[index] = len(text)


def _out_of_memory(info: ModelInfo, tokens: int) -> AdaptdocsError:
    return AdaptdocsError(
        f"out of memory running {info.name} ({info.dtype} on {info.device}) over {tokens} tokens in one batch",
        "lower --batch-size, shorten the prefix, or use --quantize nf4",
    )


def _batches(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices grouped longest first, so each batch pads little."""
    if batch_size < 1:
        raise AdaptdocsError(f"batch size must be at least 1, not {batch_size}")
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return min(found) if found else None


def _rate(usage: Usage, start: float) -> str:
    seconds = time.perf_counter() - start
    return f"{(usage.prompt_tokens + usage.generated_tokens) / seconds:.0f} tok/s" if seconds > 0 else ""


def describe(model, tokenizer, *, name: str | None = None, source: str = "in memory", dtype: str | None = None, reason: str = "") -> ModelInfo:
    """A ModelInfo for an already-loaded HF model (used by load_pretrained and for wrapped test models).

    Args:
        model: a loaded PreTrainedModel (or PeftModel).
        tokenizer: its tokenizer.
        name: display name; default the config's name or class.
        source: where the weights came from.
        dtype: bf16 | fp32 | nf4 | int8; default read from the weights.
        reason: why this precision was chosen.
    """
    import torch

    config = model.config
    if dtype is None:
        dtype = {torch.bfloat16: "bf16", torch.float32: "fp32", torch.float16: "fp16"}.get(model.dtype, str(model.dtype))
    context = getattr(config, "max_position_embeddings", None) or getattr(tokenizer, "model_max_length", 2048)
    return ModelInfo(
        name=name or getattr(config, "name_or_path", "") or type(model).__name__,
        source=source,
        parameters=model.num_parameters() if hasattr(model, "num_parameters") else sum(p.numel() for p in model.parameters()),
        dtype=dtype,
        device=str(next(model.parameters()).device),
        context_length=int(context),
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
        reason=reason,
    )
