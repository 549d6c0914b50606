#!/usr/bin/env python3
"""Mutation fuzzing of the scenario loader and the virtual run (issue 12).

Mutates every committed scenario (scenarios/*.toml) with the kinds of damage a user or an
attacker makes: huge, tiny, negative, NaN and infinite numbers; huge, zero and negative
durations; deleted and duplicated tables; truncation; random bytes. Each mutant goes through
`sim validate` and, when that accepts it, `sim run`, each under a time limit and a memory limit
(`ulimit -v`). It counts:

  panics   exit code 101 or "panicked" on stderr
  aborts   killed by a signal the harness did not send (an allocation abort is SIGABRT)
  timeouts ran past the time limit (killed by the harness)

Anything else (exit 0, 99 for a breached threshold, 2 for bad input or a run over its budget) is a
clean answer. Mutants that panic, abort or time out are kept under --keep for replay.

    cargo build --release -p sim
    python3 bench/mutate.py --mutants 5000 --jobs 2

Python 3.8+, standard library only. The same --seed gives the same mutants.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HUGE = ["1e308", "1.7976931348623157e308", "9223372036854775807", "18446744073709551615", "1e18", "1e12", "1e9",
        "4294967296", "100000000", "2000000000"]
TINY = ["1e-300", "5e-324", "0", "0.0", "1e-9"]
NEGATIVE = ["-1", "-0.0", "-1e9", "-9223372036854775808", "-1e-300"]
NONFINITE = ["nan", "inf", "-inf", "+nan"]
DURATIONS = ["1000000years", "584years", "100years", "18446744073709551615s", "999999999999d", "0s", "0ns", "1ns",
             "-5s", "1e9s", "36500d", "36501d", "366d", "1d 1ns", "2562047h", "213503d"]

# A number that is a TOML value: after `=`, `[`, or `,` (keys never start with a digit here).
NUMBER = re.compile(r"(?<=[=\[,]) *(?P<num>[+-]?(?:\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?|inf|nan))\b")
DURATION = re.compile(r'"(?P<dur>\d[\d.]*\s*(?:ns|us|µs|ms|s|m|h|d|w|y|years?|days?)(?:\s+\d[\d.]*\s*[a-zµ]+)*)"')
HEADER = re.compile(r"^\s*\[\[?[^\]]+\]\]?\s*$", re.M)


def mutate_number(text, rng):
    spots = list(NUMBER.finditer(text))
    if not spots:
        return text, "no-number"
    m = rng.choice(spots)
    kind, pool = rng.choice([("huge", HUGE), ("tiny", TINY), ("negative", NEGATIVE), ("nonfinite", NONFINITE)])
    value = rng.choice(pool)
    s, e = m.span("num")
    return text[:s] + value + text[e:], f"number:{kind}:{value}@{key_at(text, s)}"


def mutate_duration(text, rng):
    spots = list(DURATION.finditer(text))
    if not spots:
        return text, "no-duration"
    m = rng.choice(spots)
    value = rng.choice(DURATIONS)
    s, e = m.span("dur")
    return text[:s] + value + text[e:], f"duration:{value}@{key_at(text, s)}"


def blocks(text):
    """(start, end, header) of every table block: a header line to the next header."""
    heads = list(HEADER.finditer(text))
    out = []
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        out.append((h.start(), end, h.group().strip()))
    return out


def delete_table(text, rng):
    b = blocks(text)
    if not b:
        return text, "no-table"
    s, e, name = rng.choice(b)
    return text[:s] + text[e:], f"delete:{name}"


def duplicate_table(text, rng):
    b = blocks(text)
    if not b:
        return text, "no-table"
    s, e, name = rng.choice(b)
    block = text[s:e]
    if not block.endswith("\n"):
        block += "\n"
    return text[:e] + ("\n" if not text[:e].endswith("\n") else "") + block + text[e:], f"duplicate:{name}"


def truncate(text, rng):
    at = rng.randrange(len(text) + 1)
    return text[:at], f"truncate@{at}"


def random_bytes(text, rng):
    data = bytearray(text.encode())
    n = rng.choice([1, 2, 4, 16])
    for _ in range(n):
        at = rng.randrange(len(data) + 1)
        op = rng.random()
        b = rng.randrange(256)
        if op < 0.4 and at < len(data):
            data[at] = b
        elif op < 0.7:
            data[at:at] = bytes([b])
        elif at < len(data):
            del data[at]
    return data, f"bytes:{n}"


def key_at(text, offset):
    """`[table] key` at a byte offset, to say which key a mutant changed."""
    line_start = text.rfind("\n", 0, offset) + 1
    line = text[line_start:text.find("\n", offset) if text.find("\n", offset) >= 0 else len(text)]
    key = line.split("=", 1)[0].strip()
    head = None
    for h in HEADER.finditer(text, 0, line_start):
        head = h.group().strip()
    inner = text[line_start:offset]
    # inline tables: the innermost `name =` before the value
    inline = re.findall(r"([A-Za-z_][\w]*)\s*=", inner)
    if inline:
        key = ".".join(dict.fromkeys([key] + inline[-1:]))
    return f"{head or ''}{key}"


MUTATORS = [
    (mutate_number, 30), (mutate_duration, 20), (delete_table, 10), (duplicate_table, 10),
    (truncate, 10), (random_bytes, 10), ("combo", 10),
]


def mutant(text, rng):
    ops = [m for m, w in MUTATORS for _ in range(w)]
    op = rng.choice(ops)
    if op == "combo":
        notes = []
        for _ in range(rng.randint(2, 4)):
            f = rng.choice([mutate_number, mutate_duration, duplicate_table])
            text, note = f(text, rng)
            notes.append(note)
        return text, "combo[" + " ".join(notes) + "]"
    return op(text, rng)


def run(cmd, timeout, mem_kb):
    def limits():
        os.setsid()
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (mem_kb * 1024, mem_kb * 1024))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limits)
    try:
        _, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        timed_out = True
    return p.returncode, err.decode(errors="replace"), timed_out, time.monotonic() - start


def classify(code, err, timed_out):
    if timed_out:
        return "timeout"
    if code == 101 or "panicked" in err:
        return "panic"
    if code is not None and code < 0:
        return "abort"
    return "ok"


def one(job):
    i, name, data, note, args = job
    tmp = tempfile.mkdtemp(prefix="mutant-")
    try:
        path = os.path.join(tmp, f"{i:05}-{name}")
        with open(path, "wb") as f:
            f.write(data if isinstance(data, (bytes, bytearray)) else data.encode())
        code, err, timed_out, secs = run([args.sim, "validate", path], args.timeout, args.memory_mb * 1024)
        outcome = classify(code, err, timed_out)
        stage = "validate"
        if outcome == "ok" and code == 0:
            stage = "run"
            out = os.path.join(tmp, "out")
            code, err, timed_out, secs = run([args.sim, "run", path, "--out", out, "--quiet"], args.timeout,
                                             args.memory_mb * 1024)
            outcome = classify(code, err, timed_out)
        if outcome != "ok" and args.keep:
            os.makedirs(args.keep, exist_ok=True)
            shutil.copy(path, os.path.join(args.keep, os.path.basename(path)))
        last = err.strip().splitlines()[-1] if err.strip() else ""
        return {"i": i, "scenario": name, "mutation": note, "stage": stage, "outcome": outcome, "code": code,
                "seconds": round(secs, 2), "stderr": last[:300]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutants", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per command")
    ap.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per command (ulimit -v)")
    ap.add_argument("--sim", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                  "release", "sim"))
    ap.add_argument("--keep", default=None, help="folder to copy mutants that panic, abort or time out into")
    ap.add_argument("--log", default=None, help="write one JSON line per mutant here")
    args = ap.parse_args()
    if not os.path.exists(args.sim):
        sys.exit(f"error: {args.sim}: no sim binary; run `cargo build --release -p sim` first")
    scenarios = sorted(f for f in os.listdir(os.path.join(ROOT, "scenarios")) if f.endswith(".toml"))
    texts = {f: open(os.path.join(ROOT, "scenarios", f)).read() for f in scenarios}
    rng = random.Random(args.seed)
    jobs = []
    for i in range(args.mutants):
        name = scenarios[i % len(scenarios)]
        data, note = mutant(texts[name], rng)
        jobs.append((i, name, data, note, args))
    counts = collections.Counter()
    stages = collections.Counter()
    bad = []
    log = open(args.log, "w") if args.log else None
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for n, r in enumerate(pool.map(one, jobs), 1):
            counts[r["outcome"]] += 1
            stages[(r["stage"], r["code"] if r["outcome"] == "ok" else r["outcome"])] += 1
            if log:
                log.write(json.dumps(r) + "\n")
            if r["outcome"] != "ok":
                bad.append(r)
                print(f"{r['outcome']}: #{r['i']} {r['scenario']} {r['mutation']} ({r['stage']}, "
                      f"{r['seconds']} s): {r['stderr']}", flush=True)
            if n % 500 == 0:
                print(f"... {n} mutants, {dict(counts)}, {time.monotonic() - started:.0f} s", file=sys.stderr,
                      flush=True)
    total = sum(counts.values())
    print(f"\n{total} mutants of {len(scenarios)} scenarios in {time.monotonic() - started:.0f} s "
          f"(seed {args.seed}, {args.timeout:g} s and {args.memory_mb} MB per command)")
    print(f"panics {counts['panic']}, aborts {counts['abort']}, past the time limit {counts['timeout']}, "
          f"clean {counts['ok']}")
    for (stage, code), n in sorted(stages.items(), key=lambda x: (x[0][0], str(x[0][1]))):
        print(f"  {stage:8} {str(code):8} {n}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
