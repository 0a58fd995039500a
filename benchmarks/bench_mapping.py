"""Prompt-to-class mapping accuracy: the paper's cascade vs eventsep's default.

Evaluation set: ``benchmarks/mapping_prompts.csv`` (prompt, source, targets). ``targets`` lists
the acceptable AudioSet classes separated by ``|``; a prediction is correct when the best class
is one of them. Sources: ESC-50 class names (47 of 50; "drinking sipping", "can opening" and
"washing machine" have no AudioSet class and are left out), MUSIC's 11 instruments, VGGSound-style
class names and everyday phrasings.

Usage::

    python benchmarks/bench_mapping.py [--errors] [--csv PATH]

Prints top-1 accuracy per source and method, the related-class precision of the default method
(share of returned classes that are acceptable) and, with ``--errors``, every miss.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

from eventsep.method.mapping import PromptMapper

HERE = Path(__file__).resolve().parent


def load(path: Path) -> list[tuple[str, str, set[str]]]:
    with path.open(newline="") as f:
        return [(r["prompt"], r["source"], set(r["targets"].split("|"))) for r in csv.DictReader(f)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=HERE / "mapping_prompts.csv")
    ap.add_argument("--errors", action="store_true", help="list every wrong prediction")
    args = ap.parse_args(argv)
    rows = load(args.csv)
    methods = ("paper", "default")
    hits: dict[tuple[str, str], list[int]] = defaultdict(list)
    related = [0, 0]
    flagged = defaultdict(int)
    errors = []
    t0 = time.perf_counter()
    results = {m: PromptMapper(m).map_many([p for p, _, _ in rows]) for m in methods}
    for k, (prompt, source, targets) in enumerate(rows):
        for m in methods:
            r = results[m][k]
            ok = r.label in targets
            hits[(m, source)].append(ok)
            hits[(m, "all")].append(ok)
            flagged[m] += not r.confident
            if not ok:
                errors.append((m, source, prompt, r.label, r.method, " | ".join(sorted(targets))))
            if m == "default":
                related[0] += sum(lbl in targets for lbl in r.labels)
                related[1] += len(r.labels)
    elapsed = time.perf_counter() - t0
    sources = sorted({s for _, s, _ in rows}) + ["all"]
    print(f"{'source':<10} {'n':>4} " + " ".join(f"{m:>9}" for m in methods))
    for s in sources:
        n = len(hits[(methods[0], s)])
        accs = " ".join(f"{100 * sum(hits[(m, s)]) / n:8.1f}%" for m in methods)
        print(f"{s:<10} {n:>4} {accs}")
    print("\nnot confident: " + ", ".join(f"{m} {flagged[m]}" for m in methods))
    print(
        f"default related-class precision: {related[0]}/{related[1]} = "
        f"{100 * related[0] / related[1]:.1f}%"
    )
    print(f"time: {elapsed:.1f} s for {len(rows) * len(methods)} mappings (incl. model load)")
    if args.errors:
        print("\nmisses (method, source, prompt -> predicted [rule]; acceptable):")
        for m, s, p, lbl, rule, t in errors:
            print(f"  {m:<7} {s:<9} {p!r} -> {lbl!r} [{rule}]; {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
