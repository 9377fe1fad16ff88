"""Multiple choice from log-likelihoods, as lm-evaluation-harness defines acc and acc_norm."""

from __future__ import annotations

from collections.abc import Sequence


def choice_scores(logprobs: Sequence[float], choices: Sequence[str]) -> tuple[int, int]:
    """The index picked by `acc` and by `acc_norm` (ties go to the first choice, like numpy argmax).

    Args:
        logprobs: summed log-probability of each choice's continuation (Model.loglikelihood).
        choices: the choice texts as written in the question, without the leading delimiter:
            acc_norm divides each sum by len(choice) in characters, as lm-eval does.
    """
    if not logprobs or len(logprobs) != len(choices):
        raise ValueError(f"{len(logprobs)} log-likelihoods for {len(choices)} choices")
    normed = [lp / max(len(c), 1) for lp, c in zip(logprobs, choices)]
    return _argmax(logprobs), _argmax(normed)


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))
