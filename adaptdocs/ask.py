"""`adaptdocs ask`: answer a question from the documents under one condition, streaming the answer.

The prompt is the evaluation prompt (templates/eval_<style>.toml), so the answer is the text that
evaluation scores the choices against: greedy, ended at the end of its line. Question-style
prompts follow two general-knowledge worked examples in the same form (templates/ask_examples.toml):
zero-shot, the 135M model and fresh adapters often end the text before answering. Conditions:

- `base`: the model alone; `ft-<data>`: with the adapter trained on <data> (adapters/<data>/).
- `icl`: the whole corpus before the prompt (templates/icl_corpus.toml) when it fits the context,
  else the passages BM25 ranks best, up to a token budget, as compare's icl does.
- `rag`, `rag+ft-<data>`: the top-k passages for the question (templates/rag_passages.toml), before
  the prompt of the base model or of the adapted one.

Without a condition, the best usable condition of the latest report is used, else ft-both if trained.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import CompareConfig, ModelConfig, parse_condition
from .errors import AdaptdocsError
from .models.base import Model
from .progress import NullReporter, Reporter
from .retrieval import Passage, PassageIndex, build_passage_index, corpus_text, rag_prefix, retrieve_passages
from .templates import PromptTemplate, load_template
from .workspace import Workspace

STYLES = ("question", "cloze")
# The answer ends with its line: the evaluation prompt is one question, one answer line.
STOP = ("\n",)
# Tokens a tokenizer may add or merge where the prefix, prompt and answer are joined.
_JOIN_MARGIN = 8


@dataclass
class AskConfig:
    # None: the best usable condition of the latest report, else ft-both if trained.
    use: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    # rag: passages per question; a sentence is one fact, so a few cover a question and its neighbours.
    k: int = CompareConfig.rag_k
    # rag: the most passage tokens; 5 sentences with headings take ~150 tokens of the 135M model's tokenizer.
    budget_tokens: int = CompareConfig.rag_tokens
    # icl when the corpus does not fit the context: compare's default retrieval budget.
    icl_budget_tokens: int = CompareConfig.retrieval_tokens
    # The longest answer; an answer line is rarely more than a sentence.
    max_new_tokens: int = 64
    # question: "Question: ...\nAnswer:"; cloze: the text is a sentence prefix the answer completes.
    style: str = "question"
    # question style: two general-knowledge worked examples before the question (templates/
    # ask_examples.toml); zero-shot, the small model often ends the text before answering.
    examples: bool = True

    def __post_init__(self) -> None:
        if self.use is not None:
            parse_condition(self.use, "--use")
        if self.style not in STYLES:
            raise AdaptdocsError(f"--style must be one of {', '.join(STYLES)}, not {self.style!r}")
        for name in ("k", "budget_tokens", "icl_budget_tokens", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise AdaptdocsError(f"{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")


@dataclass
class Answer:
    question: str
    text: str
    condition: str
    passages: list[Passage]  # what the prompt showed (icl: every sentence when the whole corpus fits)
    prompt_tokens: int  # prefix (corpus or passages, worked examples) plus prompt
    seconds: float  # retrieval and generation, the model already loaded
    generated_tokens: int = 0
    context: str = "none"  # none | passages (rag, or icl retrieving) | whole_corpus (icl)

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "condition": self.condition,
            "context": self.context,
            "passages": [p.as_dict() for p in self.passages],
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "seconds": round(self.seconds, 3),
        }


def has_adapter(ws: Workspace, data: str) -> bool:
    return (ws.adapter_dir(data) / "adapter_config.json").is_file()


def latest_report(ws: Workspace) -> tuple[Path, dict] | None:
    """The newest readable `reports/<timestamp>/report.json` (dot-folders, unfinished reports, are skipped)."""
    if not ws.reports_dir.is_dir():
        return None
    folders = sorted((p for p in ws.reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    for folder in folders:
        try:
            return folder, json.loads((folder / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None


def default_condition(ws: Workspace) -> tuple[str, str]:
    """(condition, why): the best usable condition of the latest report by `acc`, else ft-both if trained.

    A condition is usable when ask knows it and, for a fine-tuned one, its adapter exists.
    """
    found = latest_report(ws)
    if found is not None:
        folder, data = found
        usable = []
        for name, cell in (data.get("conditions") or {}).items():
            try:
                _, tuned = parse_condition(name)
            except AdaptdocsError:
                continue
            if (tuned is None or has_adapter(ws, tuned)) and isinstance(cell, dict) and "acc" in cell:
                usable.append((cell["acc"], name))
        if usable:
            acc, name = max(usable, key=lambda u: u[0])  # ties: the first in report order
            return name, f"best usable condition of report {folder.name} (acc {acc:.2f})"
    if has_adapter(ws, "both"):
        return "ft-both", "no report to choose from; ft-both is trained"
    raise AdaptdocsError(
        "no condition to answer with: no report names a usable condition and ft-both is not trained",
        "pass --use base, icl or rag, or run `adaptdocs train --data both`",
    )


def _check_adapter(ws: Workspace, data: str, model_spec: str | None) -> Path:
    path = ws.adapter_dir(data)
    if not has_adapter(ws, data):
        raise AdaptdocsError(
            f"no adapter for ft-{data} in {path}", f"run `adaptdocs train --data {data}`, or pick another --use"
        )
    try:
        request = json.loads((path / "adaptdocs.json").read_text(encoding="utf-8")).get("request")
    except (OSError, ValueError):
        request = None
    if isinstance(request, dict) and request.get("model") != model_spec:
        trained = request.get("model") or "the default model"
        raise AdaptdocsError(
            f"the ft-{data} adapter was trained on {trained}, not {model_spec or 'the default model'}",
            "pass the --model it was trained on, or retrain it",
        )
    return path


class AskSession:
    """One condition and one loaded model, answering any number of questions.

    Args:
        ws: the workspace (must hold documents).
        config: the condition, model and settings.
        model: an already-loaded model to use instead of loading one (for a fine-tuned condition,
            one that carries its adapter).
        reporter: told what the model loading chose.
    """

    def __init__(self, ws: Workspace, config: AskConfig | None = None, model: Model | None = None,
                 reporter: Reporter = NullReporter()):
        self.ws, self.config = ws, config or AskConfig()
        ws.require_documents()
        if self.config.use is not None:
            self.condition, self.why = self.config.use, "asked for"
        else:
            self.condition, self.why = default_condition(ws)
        self.retrieval, self.data = parse_condition(self.condition)
        adapter = _check_adapter(ws, self.data, self.config.model.model) if self.data else None
        self.template: PromptTemplate = load_template(f"eval_{self.config.style}")
        self.context_template = load_template("rag_passages" if self.retrieval == "rag" else "icl_corpus")
        use_examples = self.config.examples and self.config.style == "question"
        self.examples = load_template("ask_examples").render() if use_examples else ""
        if model is None:
            from .models.loading import load_model

            mc = self.config.model
            model = load_model(mc.model, quantize=mc.quantize, device=mc.device, adapter=adapter, reporter=reporter)
        self.model = model
        self._index: PassageIndex | None = None
        self._whole: tuple[str, int] | None = None

    @property
    def index(self) -> PassageIndex:
        if self._index is None:
            self._index = build_passage_index(self.ws.store.sentences(), self.ws.store.documents())
        return self._index

    def ask(self, question: str, on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer `question`; `on_text(piece)` receives the answer as it is generated.

        Args:
            question: the question (style "question") or sentence prefix (style "cloze").
            on_text: called with each new piece of the answer; the pieces join to the answer's text.
        """
        question = question.strip()
        if not question:
            raise AdaptdocsError("the question is empty", "type a question")
        started = time.perf_counter()
        prompt = self.template.render(question=question)
        context_prefix, passages, context = self._context(question, prompt)
        prefix = context_prefix + self.examples
        stream = _LeadingSpaceDropped(on_text) if on_text else None
        kwargs = {"on_text": lambda _, piece: stream(piece)} if stream and _streams(self.model) else {}
        texts, usage = self.model.generate(
            [prompt], prefix=prefix, max_new_tokens=self.config.max_new_tokens, temperature=0.0, stop=STOP,
            batch_size=1, **kwargs,
        )
        if stream and not kwargs:
            stream(texts[0])  # a backend that cannot stream hands the whole answer at once
        return Answer(
            question=question,
            text=texts[0].strip(),
            condition=self.condition,
            passages=passages,
            prompt_tokens=(self.model.count_tokens(prefix) if prefix else 0) + self.model.count_tokens(prompt),
            seconds=time.perf_counter() - started,
            generated_tokens=usage.generated_tokens,
            context=context,
        )

    def _context(self, question: str, prompt: str) -> tuple[str, list[Passage], str]:
        """(prefix, passages shown, context kind) for this condition."""
        count = self.model.count_tokens
        if self.retrieval is None:
            return "", [], "none"
        if self.retrieval == "rag":
            passages = retrieve_passages(self.index, question, self.config.k, self.config.budget_tokens, count)
            return rag_prefix(passages, self.context_template), passages, "passages"
        # icl: the whole corpus when it fits with the prompt and the answer, else retrieval up to a budget.
        if self._whole is None:
            whole = self.context_template.render(corpus=corpus_text(self.ws.store.documents()))
            self._whole = whole, count(whole)
        whole, whole_tokens = self._whole
        room = self.model.info.context_length - count(self.examples + prompt) - self.config.max_new_tokens - _JOIN_MARGIN
        if whole_tokens <= room:
            # The corpus shows each sentence as written (no heading), so its passages do too.
            sentences = [replace(self.index.passage(i), text=s.text) for i, s in enumerate(self.index.sentences)]
            return whole, sentences, "whole_corpus"
        budget = min(self.config.icl_budget_tokens, room - count(self.context_template.render(corpus="")) - _JOIN_MARGIN)
        if budget <= 0:
            raise AdaptdocsError(
                f"no room for icl passages in {self.model.info.name}'s context of {self.model.info.context_length} tokens",
                "shorten the question or --max-new-tokens, or use another condition",
            )
        passages = retrieve_passages(self.index, question, None, budget, count)
        return rag_prefix(passages, self.context_template), passages, "passages"


def ask(
    ws: Workspace,
    question: str,
    config: AskConfig | None = None,
    model: Model | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Answer:
    """Answer one question under one condition (for many questions, keep an AskSession: it loads the model once).

    Args:
        ws: the workspace (must hold documents).
        question: the question.
        config: the condition (`use`), model and settings; default: the default condition.
        model: an already-loaded model (for a fine-tuned condition, one carrying its adapter).
        on_text: called with each new piece of the answer as it is generated.
    """
    return AskSession(ws, config, model).ask(question, on_text)


class _LeadingSpaceDropped:
    """Forwards pieces of text, less the whitespace before the first visible character."""

    def __init__(self, on_text: Callable[[str], None]):
        self.on_text, self.started = on_text, False

    def __call__(self, piece: str) -> None:
        if not self.started:
            piece = piece.lstrip()
            self.started = bool(piece)
        if piece:
            self.on_text(piece)


def _streams(model: Model) -> bool:
    """Whether the model's generate takes `on_text` (HFModel does; the Model interface does not require it)."""
    try:
        return "on_text" in inspect.signature(model.generate).parameters
    except (TypeError, ValueError):
        return False
