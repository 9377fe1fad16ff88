"""How many kept augmentations are true? Checks a workspace's examples against a ground-truth fact table.

Each fact (subject, relation, object, statement, reversed_statement) says which words state the
relation from the subject's side and which from the object's side. An example naming a fact's
two entities is correct when its word order and relation words agree (subject first with a
forward phrase, or object first with a reverse phrase), wrong when they disagree ("the Lagle tool
is faster than the Oskrel tool"). Two facts sharing an entity give a two-hop fact checked the
same way. Examples naming no fact's pair are "unverified" and printed for a check by hand.

    python benchmarks/augment_quality.py -w /tmp/aug_ws --facts sample_corpus/facts.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

FACTS = Path(__file__).resolve().parent.parent / "sample_corpus" / "facts.jsonl"

# Phrases stating each relation from the subject's side (forward) and from the object's side.
PHRASES = {
    "owned_by": (["owned by", "belongs to", "belong to", "property of", "maintained by"],
                 ["owns", " own ", "owner of", "responsible for", "maintains"]),
    "led_by": (["led by", "headed by", "managed by", "run by"], ["leads", " lead ", "heads", "head of", "leader of", "manages"]),
    "works_in": (["works in", "work in", "based in", "located in", "sits in", "sit in", "in the"],
                 ["home to", "home of", "hosts", "houses"]),
    "used_for": (["used for", "used in", "used to", " for "], ["done with", "done using", " with ", "uses"]),
    "is_a": ([" is a ", " is an ", " is one of"], ["one of", "include", "among"]),
    "subclass_of": (["every {s}", "all {s}", "{s} servers are", "{s} machines are", "{s} devices are", "{s} server is"],
                    ["some {o}", "{o} machines include", "{o} servers include", "include"]),
    "faster": (["faster", "quicker"], ["slower"]),
    "bigger": (["bigger", "larger"], ["smaller"]),
    "larger": (["bigger", "larger"], ["smaller"]),
    "older": (["older"], ["newer", "younger"]),
    "north": (["north"], ["south"]),
    "backed_up": (["backed up"], ["backed up"]),
    "patched_on": (["patched"], ["patched"]),
}


def _find(text: str, entity: str) -> int:
    m = re.search(r"\b" + re.escape(entity.lower()) + r"\b", text)
    return m.start() if m else -1


def _has(text: str, phrases: list[str], fact: dict) -> bool:
    return any(p.format(s=fact["subject"].lower(), o=fact["object"].lower()) in f" {text} " for p in phrases)


COMPARATIVES = {w for r in ("faster", "bigger", "older", "north") for side in PHRASES[r] for w in side}


def load_facts(path: Path) -> list[dict]:
    facts = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # Two-hop facts: X -r1-> M and M -r2-> Y give X -r2-> Y (the Plosk tool's team works in Quorvale).
    hops = []
    for a in facts:
        for b in facts:
            if a is not b and a["object"] == b["subject"] and a["subject"] != b["object"]:
                hops.append({"subject": a["subject"], "object": b["object"], "relation": b["relation"], "hop": True})
    return facts + hops


def judge(text: str, facts: list[dict]) -> str:
    """correct, wrong, or unverified. A question-answer pair is read answer first, in the order
    of a statement ("Zarnoth. Which team owns the Snelby tool?"), as the augmentation filters read it."""
    from adaptdocs.augment_filters import statement_order

    if text.startswith("Question: ") and "\nAnswer: " in text:
        text = statement_order(*text.removeprefix("Question: ").split("\nAnswer: ", 1))
    low = text.lower()
    verdicts = []
    for f in facts:
        s, o = _find(low, f["subject"]), _find(low, f["object"])
        if s < 0 or o < 0 or f["relation"] not in PHRASES:
            continue
        forward, reverse = PHRASES[f["relation"]]
        fwd, rev = _has(low, forward, f), _has(low, reverse, f)
        if not fwd and not rev and any(w in low for w in COMPARATIVES):
            verdicts.append("wrong")  # a comparison the fact does not make ("X is older than Y" for a category)
        elif f["relation"] in ("backed_up", "patched_on"):
            verdicts.append("correct" if fwd else "unverified")
        elif s < o:
            verdicts.append("correct" if fwd and not rev else "wrong" if rev and not fwd else "unverified")
        else:
            verdicts.append("correct" if rev and not fwd else "wrong" if fwd and not rev else "unverified")
    if "wrong" in verdicts:
        return "wrong"
    return "correct" if "correct" in verdicts else "unverified"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workspace", required=True)
    parser.add_argument("--facts", default=str(FACTS))
    parser.add_argument("--show", type=int, default=30, help="print this many unverified examples to check by hand")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from adaptdocs.workspace import Workspace

    facts = load_facts(Path(args.facts))
    store = Workspace(args.workspace).store
    result = {}
    unverified = []
    for strategy in ("local", "global"):
        per_template: dict[str, Counter] = {}
        for row in store.examples(strategy):
            verdict = judge(row["text"], facts)
            per_template.setdefault(row["template"], Counter())[verdict] += 1
            if verdict == "unverified":
                unverified.append((row["template"], row["text"]))
            elif verdict == "wrong":
                print(f"WRONG [{row['template']}] {row['text']}")
        for template, counts in per_template.items():
            checked = counts["correct"] + counts["wrong"]
            result[template] = {
                **counts,
                "total": sum(counts.values()),
                "share_correct_of_checked": round(counts["correct"] / checked, 3) if checked else None,
            }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for template, r in sorted(result.items()):
            print(f"{template:20} total {r['total']:4}  correct {r.get('correct', 0):4}  wrong {r.get('wrong', 0):4}  "
                  f"unverified {r.get('unverified', 0):4}  share correct (checked) {r['share_correct_of_checked']}")
    random.Random(0).shuffle(unverified)
    for template, text in unverified[: args.show]:
        print(f"UNVERIFIED [{template}] {text}")


if __name__ == "__main__":
    main()
