"""Ingest throughput: the process pool against one process, and adaptdocs against bare unstructured.

Builds a corpus of mixed-format files (md, html with a table and a list, txt, docx, pdf) in a
temporary folder, then times, on the same files:
1. `adaptdocs ingest --workers 1` and `--workers N` as fresh processes, into fresh workspaces,
   end to end (interpreter start, imports and spaCy loading included, as a user sees it);
2. in this process, warmed up (spaCy loaded, its caches cleared before each run):
   `ingest_paths(workers=1)` against unstructured's partition functions alone, results thrown
   away (for PDF: pypdf's text layer and `partition_text`, as ingest does). Best of two rounds.
3. the fixed start-up of each CLI run (interpreter, imports, parser processes, spaCy): the same
   command on one file per worker. Subtracting it gives the steady-state speed-up, the one a
   corpus much larger than this benchmark's sees.
Targets: pool ≥ 1.7× one process on 2 cores; adaptdocs ≤ 1.2× bare partitioning.

Usage: python benchmarks/bench_ingest.py [--files 300] [--workers N]
Writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

NAMES = ["Krimbo", "Plosk", "Vendrak", "Oskrel", "Lagle", "Kotrizo", "Brisnel", "Tavrune", "Gulmesh", "Yimbrot"]
TEAMS = ["Mubadra", "Trimbelo", "Quessary", "Dolvane", "Zarnoth", "Korbulo"]


def facts(i: int, n: int = 12) -> list[str]:
    return [
        f"The {NAMES[(i + k) % len(NAMES)]}{i} tool is owned by the {TEAMS[(i * 7 + k) % len(TEAMS)]} team. "
        f"It is used for task {i * 100 + k} and was updated in week {k + 1}."
        for k in range(n)
    ]


def write_file(folder: Path, i: int) -> Path:
    kind = ("md", "html", "txt", "docx", "pdf")[i % 5]
    lines = facts(i)
    path = folder / f"doc{i:04d}.{kind}"
    if kind == "md":
        path.write_text(f"# Note {i}\n\n" + "\n\n".join(lines[:6]) + "\n\n## Steps\n\n" + "\n".join(f"- {x}" for x in lines[6:]) + "\n")
    elif kind == "html":
        rows = "".join(f"<tr><td>{NAMES[k % 10]}{i}</td><td>{TEAMS[k % 6]}</td></tr>" for k in range(6))
        path.write_text(
            f"<html><body><h1>Catalogue {i}</h1><p>{' '.join(lines[:6])}</p>"
            f"<table><tr><th>Tool</th><th>Owner</th></tr>{rows}</table>"
            f"<ul>{''.join(f'<li>{x}</li>' for x in lines[6:])}</ul></body></html>"
        )
    elif kind == "txt":
        path.write_text(f"NOTES {i}\n\n" + "\n\n".join(" ".join(lines[k : k + 3]) for k in range(0, 12, 3)) + "\n")
    elif kind == "docx":
        import docx

        document = docx.Document()
        document.add_heading(f"Chart {i}", 0)
        for line in lines[:6]:
            document.add_paragraph(line)
        for line in lines[6:]:
            document.add_paragraph(line, style="List Bullet")
        document.save(path)
    else:
        from reportlab.lib.pagesizes import A4
        from reportlab.platypus import Paragraph, SimpleDocTemplate
        from reportlab.lib.styles import getSampleStyleSheet

        styles = getSampleStyleSheet()
        SimpleDocTemplate(str(path), pagesize=A4).build(
            [Paragraph(f"Inventory {i}", styles["Heading1"])] + [Paragraph(" ".join(lines[k : k + 4]), styles["Normal"]) for k in range(0, 12, 4)]
        )
    return path


def bare_partition(paths: list[Path]) -> int:
    """unstructured alone on each file; returns the number of elements."""
    from io import BytesIO

    import pypdf
    from unstructured.partition.docx import partition_docx
    from unstructured.partition.html import partition_html
    from unstructured.partition.md import partition_md
    from unstructured.partition.text import partition_text

    n = 0
    for path in paths:
        suffix = path.suffix
        if suffix == ".pdf":
            for page in pypdf.PdfReader(BytesIO(path.read_bytes())).pages:
                n += len(partition_text(text=page.extract_text()))
        else:
            fn = {".md": partition_md, ".html": partition_html, ".txt": partition_text, ".docx": partition_docx}[suffix]
            n += len(fn(filename=str(path)))
    return n


def clear_unstructured_caches() -> None:
    """unstructured memoises spaCy results per text: clear them so no run profits from another."""
    from unstructured.nlp import tokenize

    for name in ("_process_cached", "word_tokenize", "pos_tag", "_tokenize_for_cache", "_get_nlp"):
        fn = getattr(tokenize, name, None)
        if name != "_get_nlp" and hasattr(fn, "cache_clear"):
            fn.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300, help="files in the corpus (default 300)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="pool size (default: one per core)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json")
    args = parser.parse_args()

    from adaptdocs.config import IngestConfig
    from adaptdocs.ingest import ingest_paths, prepare_parser
    from adaptdocs.workspace import Workspace

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        t = time.perf_counter()
        paths = [write_file(corpus, i) for i in range(args.files)]
        console.print(f"built {len(paths)} files in {time.perf_counter() - t:.1f} s")
        startup_corpus = Path(tmp) / "startup"
        startup_corpus.mkdir()
        for i in range(args.workers):
            write_file(startup_corpus, i)

        def cli_ingest(folder: Path, workers: int, name: str) -> tuple[float, dict]:
            t = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "adaptdocs", "ingest", str(folder), "-w", str(Path(tmp) / name),
                 "--workers", str(workers), "--json"], capture_output=True, text=True, check=True,
            )
            return time.perf_counter() - t, json.loads(run.stdout)

        (single_s, single), (pool_s, pooled) = (cli_ingest(corpus, w, f"cli-{w}") for w in (1, args.workers))
        single_start_s, pool_start_s = (cli_ingest(startup_corpus, w, f"start-{w}")[0] for w in (1, args.workers))
        assert single["ingested"] == pooled["ingested"] == len(paths), (single["problems"], pooled["problems"])
        assert single["sentences"] == pooled["sentences"]

        prepare_parser()  # load spaCy once, as a long-running process would have
        warm, bare = [], []
        for round_ in range(2):
            clear_unstructured_caches()
            t = time.perf_counter()
            ingest_paths(Workspace(Path(tmp) / f"ws-{round_}"), [corpus], IngestConfig(workers=1))
            warm.append(time.perf_counter() - t)
            clear_unstructured_caches()
            t = time.perf_counter()
            bare_elements = bare_partition(paths)
            bare.append(time.perf_counter() - t)
        warm_s, bare_s = min(warm), min(bare)

    n = len(paths)
    result = {
        "files": n,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "elements": single["elements"],
        "bare_elements": bare_elements,
        "sentences": single["sentences"],
        "seconds": {"single": round(single_s, 3), "pool": round(pool_s, 3), "single_warm": round(warm_s, 3),
                    "bare_unstructured": round(bare_s, 3), "single_startup": round(single_start_s, 3),
                    "pool_startup": round(pool_start_s, 3)},
        "files_per_s": {"single": round(n / single_s, 2), "pool": round(n / pool_s, 2),
                        "single_warm": round(n / warm_s, 2), "bare_unstructured": round(n / bare_s, 2)},
        "pool_speedup": round(single_s / pool_s, 3),
        "pool_speedup_steady": round((single_s - single_start_s) / max(pool_s - pool_start_s, 1e-9), 3),
        "overhead_vs_bare": round(warm_s / bare_s, 3),
        "targets": {"pool_speedup": 1.7, "overhead_vs_bare": 1.2},
    }
    table = Table(title=f"Ingest, {n} mixed files ({args.workers} workers, {os.cpu_count()} cores)", title_justify="left")
    for column in ("run", "seconds", "files/s"):
        table.add_column(column)
    for key, label in (("single", "CLI, 1 process (end to end)"), ("pool", f"CLI, pool of {args.workers} (end to end)"),
                       ("single_warm", "adaptdocs, 1 process, warm"), ("bare_unstructured", "unstructured alone, warm")):
        table.add_row(label, f"{result['seconds'][key]:.2f}", f"{result['files_per_s'][key]:.1f}")
    console.print(table)
    console.print(f"start-up (one file per worker): 1 process {single_start_s:.2f} s, pool {pool_start_s:.2f} s; "
                  f"steady-state pool speed-up {result['pool_speedup_steady']:.2f}×")
    console.print(f"pool speed-up {result['pool_speedup']:.2f}× (target ≥ 1.7×); "
                  f"adaptdocs over bare unstructured {result['overhead_vs_bare']:.2f}× (target ≤ 1.2×)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
