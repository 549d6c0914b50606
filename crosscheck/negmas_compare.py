"""Compares the deal-quality figures in sim's reports with NegMAS's, on the same utility functions.

For every negotiation of the committed scenarios and of generated domains (the story's issues with
random weights and reservation values), `sim run --export-ufuns` writes both sides' utility of
every outcome as their preferences stood at the end; this script hands those utilities to NegMAS
(`MappingUtilityFunction` over one issue whose values are the outcome ids, each side's reservation
value as its `reserved_value`, the outcomes that break no clause as the outcomes considered) and
compares what NegMAS's `calc_scenario_stats`, `calc_outcome_distances`, `estimate_max_dist` and
`calc_outcome_optimality` give with report.json: the Pareto frontier, the Nash, Kalai and
Kalai-Smorodinsky points, the maximum welfare, and each agreement's optimality figures.

Run through crosscheck/negmas.sh, which installs NegMAS in a venv and builds sim. Exit 1 when a
figure differs by more than the tolerance (1e-9), or fewer than 20 negotiations with more than
one utility point were compared.
"""

import argparse
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

from negmas import make_issue, make_os
from negmas.preferences import MappingUtilityFunction
from negmas.preferences.ops import (
    calc_outcome_distances,
    calc_outcome_optimality,
    calc_scenario_stats,
    estimate_max_dist,
)

TOLERANCE = 1e-9
QUALITY_KEYS = ["pareto_optimality", "nash_optimality", "kalai_optimality", "ks_optimality", "max_welfare_optimality"]


def generated_domain(template: str, k: int) -> str:
    """The template scenario with every weight and reservation value drawn at random (seed k)."""
    rng = random.Random(k)
    out, section = [], ""
    for line in template.splitlines():
        header = re.match(r"^\s*\[+([^\]]+)\]+", line)
        if header:
            section = header.group(1)
        m = re.match(r"^(\s*)([a-z_]+)(\s*=\s*)([0-9.]+)(.*)$", line)
        if m and section.endswith("weights"):
            line = f"{m.group(1)}{m.group(2)}{m.group(3)}{rng.uniform(0.1, 3.0):.3f}{m.group(5)}"
        elif m and m.group(2) == "reservation":
            line = f"{m.group(1)}{m.group(2)}{m.group(3)}{rng.uniform(0.0, 0.6):.3f}{m.group(5)}"
        elif m and m.group(2) == "seed" and section == "scenario":
            line = f"{m.group(1)}seed{m.group(3)}{1000 + k}"
        elif re.match(r'^\s*name\s*=\s*"', line) and section == "scenario":
            line = f'name = "generated-{k}"'
        out.append(line)
    # A generated domain is about the negotiation: no data phase, no thresholds on it.
    text = "\n".join(out) + "\n"
    text = re.sub(r"(?ms)^\[\[thresholds\]\].*?(?=^\[|\Z)", "", text)
    return text


def close_sets(ours, theirs):
    """Largest distance between two sets of points (each point of one to the nearest of the other),
    with equal points counted once; None when one is empty and the other not."""
    ours = {tuple(p) for p in ours}
    theirs = {tuple(float(x) for x in p) for p in theirs}
    if not ours and not theirs:
        return 0.0
    if not ours or not theirs:
        return None
    far = 0.0
    for a, b in ((ours, theirs), (theirs, ours)):
        for p in a:
            far = max(far, min(math.dist(p, q) for q in b))
    return far


def dedupe(points):
    kept = []
    for p in points:
        if all(math.dist(p, q) > 1e-12 for q in kept):
            kept.append(p)
    return kept


def compare(negotiation, ufuns):
    """One negotiation: the largest difference per figure, and what was compared."""
    outcomes = ufuns["outcomes"]
    n = len(outcomes)
    space = make_os([make_issue(n, name="outcome")])
    reserved = [r if r is not None else float("-inf") for r in ufuns["reservation"]]
    sides = [
        MappingUtilityFunction({(i,): o[side] for i, o in enumerate(outcomes)}, reserved_value=reserved[side],
                               outcome_space=space)
        for side in (0, 1)
    ]
    admissible = [(i,) for i, o in enumerate(outcomes) if o[2]]
    ours = negotiation["outcome_space"]
    diffs = {}
    agreeable = sum(1 for o in outcomes if o[2] and o[0] >= reserved[0] and o[1] >= reserved[1])
    diffs["agreeable"] = abs(agreeable - ours["agreeable"])
    if not admissible:
        diffs["frontier"] = 0.0 if not ours["frontier"] else None
        return diffs, 0, False
    stats = calc_scenario_stats(sides, outcomes=admissible)
    frontier = dedupe([tuple(float(x) for x in p) for p in stats.pareto_utils])
    diffs["frontier"] = close_sets(ours["frontier"], frontier)
    diffs["frontier_points"] = abs(len(frontier) - len(ours["frontier"]))
    diffs["nash"] = close_sets(ours["nash"], stats.nash_utils)
    diffs["kalai"] = close_sets(ours["kalai"], stats.kalai_utils)
    diffs["kalai_smorodinsky"] = close_sets(ours["kalai_smorodinsky"], stats.ks_utils)
    if frontier:
        theirs = max(sum(float(x) for x in p) for p in stats.max_welfare_utils)
        diffs["max_welfare"] = abs(theirs - ours["max_welfare"])
    outcome = negotiation["outcome"]
    span = [max(o[side] for o in outcomes) - min(o[side] for o in outcomes) for side in (0, 1)]
    if math.hypot(*span) < 1e-12:
        # One utility point: nothing to measure an agreement against. NegMAS gives NaN for the
        # distance-based figures (and 1 for welfare); the report gives no figures.
        diffs["quality"] = 0.0 if outcome.get("quality") is None else None
        return diffs, len(frontier), True
    if outcome["kind"] == "agreement":
        utils = (outcome["utility_platform"], outcome["utility_bank"])
        optimality = calc_outcome_optimality(calc_outcome_distances(utils, stats), stats, estimate_max_dist(sides))
        quality = outcome.get("quality")
        for key in QUALITY_KEYS:
            theirs = float(getattr(optimality, key))
            if quality is None:
                diffs[key] = 0.0 if math.isnan(theirs) else None
            else:
                diffs[key] = abs(theirs - quality[key])
    return diffs, len(frontier), False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", required=True, help="the sim binary")
    parser.add_argument("--out", default="target/crosscheck", help="folder for runs and generated domains")
    parser.add_argument("--generated", type=int, default=10, help="generated domains to add")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(Path("scenarios").glob("*.toml"))
    template = Path("scenarios/messenger-2018.toml").read_text()
    for k in range(args.generated):
        path = out / f"generated-{k}.toml"
        path.write_text(generated_domain(template, k))
        files.append(path)
    rows, worst, failed = [], 0.0, []
    for path in files:
        run_dir = out / path.stem
        ufuns_file = run_dir / "ufuns.json"
        done = subprocess.run(
            [args.sim, "run", str(path), "--quiet", "--out", str(run_dir), "--export-ufuns", str(ufuns_file)],
            capture_output=True, text=True)
        if done.returncode not in (0, 99):  # 99: a threshold of the scenario breached, not our concern here
            sys.exit(f"error: sim run {path} exited {done.returncode}: {done.stderr.strip()}")
        report = json.loads((run_dir / "report.json").read_text())
        exported = json.loads(ufuns_file.read_text())
        for negotiation, ufuns in zip(report["negotiations"], exported, strict=True):
            assert (negotiation["platform"], negotiation["bank"]) == (ufuns["platform"], ufuns["bank"])
            diffs, frontier, degenerate = compare(negotiation, ufuns)
            missing = [k for k, v in diffs.items() if v is None]
            largest = max((v for v in diffs.values() if v is not None), default=0.0)
            worst = max(worst, largest)
            pair = f"{path.stem}: {negotiation['platform']}/{negotiation['bank']}"
            if missing or largest > TOLERANCE:
                failed.append(f"{pair}: {diffs}")
            verdict = "ok" if not missing and largest <= TOLERANCE else "DIFF"
            if degenerate and verdict == "ok":
                verdict = "ok (one utility point: no quality figures)"
            rows.append((pair, len(ufuns["outcomes"]), negotiation["outcome_space"]["agreeable"], frontier,
                         negotiation["outcome"]["kind"], largest, verdict, degenerate))
    width = max(len(r[0]) for r in rows)
    print(f"{'negotiation':<{width}}  outcomes  agreeable  frontier  outcome     largest difference")
    for pair, n, agreeable, frontier, kind, largest, verdict, _ in rows:
        print(f"{pair:<{width}}  {n:>8}  {agreeable:>9}  {frontier:>8}  {kind:<10}  {largest:.3g} {verdict}")
    measured = [r for r in rows if not r[7]]
    agreements = sum(1 for r in measured if r[4] == "agreement")
    print(f"\n{len(measured)} negotiations ({agreements} of them agreements) compared with NegMAS, and "
          f"{len(rows) - len(measured)} with a single utility point; largest difference {worst:.3g} "
          f"(tolerance {TOLERANCE})")
    for f in failed:
        print(f"DIFF {f}")
    if failed or len(measured) < 20:
        sys.exit(1)


if __name__ == "__main__":
    main()
