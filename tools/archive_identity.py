#!/usr/bin/env python3
"""Compares two sets of run folders for a change that must not change behaviour.

    tools/archive_identity.py [--new-record-inputs] BEFORE AFTER

BEFORE and AFTER hold run folders with the same names (SCALPEL_KEEP_SMOKE_RUNS=DIR swift test
--filter RecipeSmokeTests writes one per shipped recipe; `scalpel run` writes the default recipe's).
Every evidence.h5 group but /provenance is compared with h5diff (exact values and attributes);
stage.json records without their timings, naming the keys that differ; cli-summary.json (the
command's --json, which the smoke tests keep) likewise; every other file byte for byte but
report.html, which renders /provenance (its times and memory). --new-record-inputs also sets aside the records'
inputs and notes, for a change of the input-hash convention (stages are then computed once more). Exits 1 on a difference.
Needs h5diff (Debian's hdf5-tools).
"""
import filecmp
import json
import os
import subprocess
import sys

TIMINGS = {"seconds", "peak_rss_mb", "tokens_per_second"}


def h5_groups(path):
    listing = subprocess.run(["h5ls", path], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def only_timings(report):
    """Whether every difference h5diff reports is in a timing attribute."""
    lines = [line for line in report.splitlines() if line.strip()]
    differing = [line for line in lines if line.startswith(("attribute:", "dataset:", "group:"))]
    counted = [line for line in lines if line.endswith("differences found")]
    if not differing or len(differing) != len(counted) or any(not line.startswith("attribute:") for line in differing):
        return False
    return all(line.split("<", 1)[1].split(" of ", 1)[0] in TIMINGS for line in differing)


IGNORED_RECORD_KEYS = {"seconds"}


def record(path):
    with open(path) as f:
        data = json.load(f)
    for key in IGNORED_RECORD_KEYS:
        data.pop(key, None)
    for key in TIMINGS:
        data.get("summary", {}).pop(key, None)
    return data


def strip_timings(value):
    """A JSON value with every timing key removed, at any depth."""
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value


def json_differences(a, b, path=""):
    """The paths where two JSON values differ, each with both sides."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b)):
            if key not in b:
                found.append(f"{path}/{key}: only before ({a[key]!r:.80})")
            elif key not in a:
                found.append(f"{path}/{key}: only after ({b[key]!r:.80})")
            else:
                found += json_differences(a[key], b[key], f"{path}/{key}")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [found for i, (x, y) in enumerate(zip(a, b)) for found in json_differences(x, y, f"{path}[{i}]")]
    if a != b:
        return [f"{path}: {a!r:.80} became {b!r:.80}"]
    return []


def compare(before, after):
    problems = []
    for folder, _, files in os.walk(before):
        for name in files:
            a = os.path.join(folder, name)
            b = os.path.join(after, os.path.relpath(a, before))
            if not os.path.exists(b):
                problems.append(f"missing after: {b}")
            elif name.endswith(".h5"):
                groups_a, groups_b = h5_groups(a), h5_groups(b)
                if groups_a != groups_b:
                    problems.append(f"{b}: groups {groups_a} became {groups_b}")
                for group in groups_a:
                    if group == "provenance" or group not in groups_b:
                        continue
                    diff = subprocess.run(["h5diff", "-c", a, b, f"/{group}", f"/{group}"],
                                          capture_output=True, text=True)
                    if diff.returncode != 0 and not only_timings(diff.stdout):
                        problems.append(f"{b}: /{group} differs\n{diff.stdout[-2000:]}")
            elif name == "report.html":
                continue
            elif name == "stage.json":
                if record(a) != record(b):
                    detail = "\n  ".join(json_differences(record(a), record(b)))
                    problems.append(f"{b}: the stage record differs\n  {detail}")
            elif name == "cli-summary.json":
                with open(a) as fa, open(b) as fb:
                    found = json_differences(strip_timings(json.load(fa)), strip_timings(json.load(fb)))
                if found:
                    problems.append(f"{b}: the command's JSON differs\n  " + "\n  ".join(found))
            elif not filecmp.cmp(a, b, shallow=False):
                problems.append(f"{b}: bytes differ")
    for folder, _, files in os.walk(after):
        for name in files:
            b = os.path.join(folder, name)
            if not os.path.exists(os.path.join(before, os.path.relpath(b, after))):
                problems.append(f"new after: {b}")
    return problems


def main():
    arguments = sys.argv[1:]
    if arguments and arguments[0] == "--new-record-inputs":
        IGNORED_RECORD_KEYS.update({"inputs", "notes"})
        arguments = arguments[1:]
    if len(arguments) != 2:
        sys.exit(__doc__)
    problems = compare(*arguments)
    for problem in problems:
        print(problem)
    print("identical" if not problems else f"{len(problems)} differences")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
