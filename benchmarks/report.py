"""Results -> ``<date>-<machine>.json``, markdown tables in ``benchmarks/README.md``, a PNG chart.

Ratios and target verdicts are computed here from the raw measurements, so a results
file can be re-rendered (``python -m benchmarks.report results/X.json``) without re-running.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"
TARGETS_START, TARGETS_END = "<!-- targets:start -->", "<!-- targets:end -->"
STYLES = {  # path -> (color, line style): limit black, peer grey, joey in colour
    "limit": ("black", "-"), "peer-http": ("grey", "--"), "peer-handle": ("grey", ":"),
    "joey-sdk": ("C0", "-"), "joey-http-arrow": ("C3", "-"), "joey-http-json": ("C2", "-"),
    "joey-handle": ("C1", "-"), "joey-separate": ("C4", "-"), "joey-out": ("C5", "--"),
    # path names of results from before placement (re-rendered old files)
    "joey-fused": ("C4", "-"), "joey-fused-out": ("C5", "--"), "joey-fused-http-arrow": ("C4", "-"),
}
PATH_ORDER = ("limit", "peer-http", "peer-handle", "joey-sdk", "joey-http-arrow", "joey-out",
              "joey-separate", "joey-fused", "joey-fused-out", "joey-fused-http-arrow",
              "joey-http-json", "joey-handle")
# the layouts every layout-dependent target is evaluated for: (load name, chain prefix, label).
# The goals are the default layout's; "separate" shows what a Serve hop per model costs.
MODES = (("joey", "", "default (placement rule)"),
         ("joey-separate", "separate ", "separate (`fuse_steps(False)`)"))
BASELINE = Path(__file__).resolve().parent / "results" / "2026-11-29-cpu2.json"
"""The last full run before placement and HAProxy: the SDK and handle paths are held to it."""
BASELINE_TOLERANCE = 0.9
"""SDK/handle goal: x peer-handle now ≥ this * x peer-handle in the baseline (10% for noise)."""
BASELINE_PATHS = ("joey-sdk", "joey-handle")
BASELINE_BATCHES = (1, 10000)


# ---------------------------------------------------------------- derived numbers


def _cell(results: dict[str, Any], model: str, path: str, batch: int) -> dict[str, Any] | None:
    for cell in results.get("batch", []):
        if cell["model"] == model and cell["path"] == path and cell["batch"] == batch:
            return cell
    return None


def _rate(results: dict[str, Any], model: str, path: str, batch: int) -> float | None:
    cell = _cell(results, model, path, batch)
    return cell["rows_per_s"] if cell else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def add_ratios(results: dict[str, Any]) -> None:
    """Each batch cell gets ``x_limit`` and ``x_peer`` (throughput ratios, >1 = faster)."""
    for cell in results.get("batch", []):
        rate = cell["rows_per_s"]
        cell["x_limit"] = _ratio(rate, _rate(results, cell["model"], "limit", cell["batch"]))
        peer = cell.get("peer")
        cell["x_peer"] = _ratio(rate, _rate(results, cell["model"], peer, cell["batch"])) \
            if peer else None


def baseline_summary(path: Path) -> dict[str, Any] | None:
    """What the SDK/handle targets compare with, from an earlier results file: per
    ``path@batch`` of ccfraud, x peer-handle, median ms and the peer-handle's median ms.
    None when the file is missing or unreadable."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    cells: dict[str, Any] = {}
    for name in BASELINE_PATHS:
        for batch in BASELINE_BATCHES:
            cell, peer = _cell(old, "ccfraud", name, batch), _cell(old, "ccfraud", "peer-handle", batch)
            if not cell or not cell.get("rows_per_s"):
                continue
            cells[f"{name}@{batch}"] = {
                "x_peer": _ratio(cell["rows_per_s"], peer.get("rows_per_s") if peer else None),
                "median_ms": cell["median_s"] * 1e3 if cell.get("median_s") else None,
                "peer_median_ms": peer["median_s"] * 1e3 if peer and peer.get("median_s") else None}
    return {"file": f"{path.parent.name}/{path.name}", "date": old.get("date"),
            "machine": old.get("machine"), "quick": old.get("quick"), "cells": cells}


def _load(results: dict[str, Any], name: str, concurrency: int) -> dict[str, Any] | None:
    for entry in results.get("small_requests", []):
        if entry["name"] == name and entry["concurrency"] == concurrency:
            return entry
    return None


def _field(entry: dict[str, Any] | None, key: str) -> float | None:
    return entry[key] if entry else None


def _verdict(value: float | None, goal: float, higher_is_better: bool) -> bool | None:
    if value is None:
        return None
    return value >= goal if higher_is_better else value <= goal


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value, the goal and met (None = not measured).

    The goals are the default layout's (joey's placement rule: a one-step or native chained
    ccfraud pipeline is one deployment, the ingress running the models); where a target is
    also shown for the separate layout (``fuse_steps(False)``), it is grouped by layout."""
    targets: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, goal: float, higher: bool, unit: str,
            detail: str = "", met: bool | None = None, group: str | None = None,
            mode: str | None = None) -> None:
        verdict = _verdict(measured, goal, higher) if met is None else met
        targets.append({"target": name, "measured": measured, "goal": goal,
                        "goal_text": f"{'≥' if higher else '≤'} {goal:g}{unit}",
                        "unit": unit, "met": verdict, "detail": detail, "group": group,
                        "mode": mode})

    def rate_text(cell: dict[str, Any] | None, label: str = "") -> str:
        if not cell or not cell.get("rows_per_s"):
            return ""
        ratio = f" ({cell['x_peer']:.2f}x peer)" if cell.get("x_peer") is not None else ""
        return f"{label}{cell['rows_per_s']:,.0f} rows/s{ratio}"

    for path, label in (("joey-sdk", "SDK"), ("joey-http-arrow", "HTTP Arrow")):
        cell = _cell(results, "aloha", path, 10000)
        add(f"aloha, batch 10000: joey {label} throughput vs limit",
            cell.get("x_limit") if cell else None, 0.9, True, "x limit",
            f"{cell['rows_per_s']:,.0f} rows/s" if cell and cell["rows_per_s"] else "")

    # 1. one step, default layout, 10,000 rows over HTTP Arrow vs the peer's HTTP
    cell = _cell(results, "ccfraud", "joey-http-arrow", 10000)
    details = [rate_text(cell) if cell and cell.get("rows_per_s") else "",
               rate_text(_cell(results, "ccfraud", "joey-out", 10000),
                         "asking only for the outputs (`dataset[]=out`, the peer's answer "
                         "content): "),
               rate_text(_cell(results, "ccfraud", "joey-separate", 10000),
                         "separate (`fuse_steps(False)`, one more hop): ")]
    add("ccfraud, one step, default layout, batch 10000: joey HTTP Arrow throughput vs peer HTTP",
        cell.get("x_peer") if cell else None, 1.0, True, "x peer",
        "; ".join(d for d in details if d))

    # The peer of the small-request comparisons is the tuned one (max_ongoing_requests=64);
    # results from before it existed fall back to the default peer.
    peer_name = "peer-tuned" if _load(results, "peer-tuned", 1) else "peer"
    # 2. single-row p50, one client
    peer1 = _load(results, peer_name, 1)
    for name, _, label in MODES:
        joey1 = _load(results, name, 1)
        ratio = _ratio(_field(joey1, "p50_ms"), _field(peer1, "p50_ms"))
        add(f"single-row HTTP, one step, 1 client: joey p50 vs {peer_name} p50, {label}", ratio,
            1.2, False, "x peer",
            f"joey {joey1['p50_ms']:.2f} ms, {peer_name} {peer1['p50_ms']:.2f} ms"
            if ratio is not None and joey1 and peer1 else "",
            group=f"single-row p50 ≤ 1.2x {peer_name}", mode=label)

    # 3. 32 concurrent single-row clients, requests/s
    peer32 = _load(results, peer_name, 32)
    for name, _, label in MODES:
        joey32 = _load(results, name, 32)
        ratio = _ratio(_field(joey32, "requests_per_s"), _field(peer32, "requests_per_s"))
        add(f"32 concurrent single-row clients, one step: joey requests/s vs {peer_name}, {label}",
            ratio, 1.0, True, "x peer",
            f"joey {joey32['requests_per_s']:.0f} req/s (p50 {joey32['p50_ms']:.1f} ms), "
            f"{peer_name} {peer32['requests_per_s']:.0f} req/s (p50 {peer32['p50_ms']:.1f} ms)"
            if ratio is not None and joey32 and peer32 else "",
            group=f"32 clients requests/s ≥ 1x {peer_name}", mode=label)

    # 4a. each extra chained native step, single-row p50
    chain = results.get("chain", {})
    for _, prefix, label in MODES:
        key = f"{prefix}http-arrow"
        per_step = chain.get(f"per_extra_step_{key.replace(' ', '-')}_ms")
        detail = ""
        if per_step is not None:
            sdk = chain.get(f"per_extra_step_{(prefix + 'sdk').replace(' ', '-')}_ms")
            detail = (f"(3-step p50 {chain[f'3-step {key}']['p50_ms']:.2f} ms - 1-step p50 "
                      f"{chain[f'1-step {key}']['p50_ms']:.2f} ms) / 2 (HTTP Arrow, single row); "
                      f"SDK: {sdk if sdk is not None else float('nan'):.2f} ms/step")
            if per_step < 0:
                detail += "; below 0: the step costs less than the noise between the blocks"
        add(f"each extra chained native step adds (single-row p50), {label}", per_step, 1.5,
            False, " ms", detail, group="extra step ≤ 1.5 ms p50", mode=label)

    # 4b. each extra chained native step, batch-10000 throughput (default layout only)
    one = _rate(results, "ccfraud", "joey-http-arrow", 10000)
    three = _rate(results, "ccfraud-3step", "joey-http-arrow", 10000)
    kept = _ratio(three, one)
    cost = None if kept is None or kept <= 0 else 100.0 * (1.0 - kept ** 0.5)
    add("each extra chained native step costs (batch 10000 HTTP Arrow throughput), "
        f"{MODES[0][2]}", cost, 15.0, False, "%",
        f"1 - (3-step {three:,.0f} rows/s / 1-step {one:,.0f} rows/s)^(1/2); "
        f"3-step/1-step = {kept:.2f}" if cost is not None and one and three else "")

    # 5. SDK and handle paths no slower than before placement (x peer-handle, same run)
    baseline = results.get("baseline") or {}
    for path, label in (("joey-sdk", "SDK (`pipeline.infer`)"), ("joey-handle", "Ray handle")):
        for batch in BASELINE_BATCHES:
            now = _cell(results, "ccfraud", path, batch)
            then = (baseline.get("cells") or {}).get(f"{path}@{batch}")
            x_now = now.get("x_peer") if now else None
            x_then = then.get("x_peer") if then else None
            relative = _ratio(x_now, x_then)
            detail = ""
            if relative is not None and now and then:
                peer = _cell(results, "ccfraud", "peer-handle", batch)
                peer_ms = _num(peer["median_s"] * 1e3 if peer and peer.get("median_s") else None, 2)
                detail = (f"now {x_now:.2f}x P ({_num((now.get('median_s') or 0) * 1e3, 2)} ms; "
                          f"peer-handle {peer_ms} ms); `{baseline.get('file')}`: {x_then:.2f}x P "
                          f"({_num(then.get('median_ms'), 2)} ms; peer-handle "
                          f"{_num(then.get('peer_median_ms'), 2)} ms); goal: now ≥ "
                          f"{BASELINE_TOLERANCE:g} * then ({100 * (1 - BASELINE_TOLERANCE):.0f}% "
                          "tolerance for noise)")
            elif not baseline:
                detail = "no baseline in this results file"
            add(f"ccfraud, batch {batch}: joey {label} x peer-handle, vs the run before placement",
                relative, BASELINE_TOLERANCE, True, "x before", detail,
                group="SDK and handle no slower than before", mode=f"{path}@{batch}")

    for (without_name, _, label), with_name in zip(MODES, ("joey-batched", "joey-separate-batched"),
                                                   strict=True):
        batched, plain = _load(results, with_name, 32), _load(results, without_name, 32)
        speedup = _ratio(_field(batched, "requests_per_s"), _field(plain, "requests_per_s"))
        p50_ratio = _ratio(_field(batched, "p50_ms"), _field(plain, "p50_ms"))
        met = None
        detail = ""
        if speedup is not None and p50_ratio is not None and batched and plain:
            met = speedup >= 3.0 and p50_ratio <= 2.0
            lone = _load(results, without_name, 1)
            detail = (f"with {batched['requests_per_s']:.0f} req/s p50 {batched['p50_ms']:.1f} ms, "
                      f"without {plain['requests_per_s']:.0f} req/s p50 {plain['p50_ms']:.1f} ms; "
                      f"p50 ratio {p50_ratio:.2f}x (goal ≤ 2x)")
            if lone and lone["p50_ms"]:
                detail += f"; 1-client p50 {lone['p50_ms']:.1f} ms"
        add(f"32 concurrent single-row clients: requests/s with batching vs without, {label}",
            speedup, 3.0, True, "x", detail, met)

    tf = results.get("tensorflow_aloha") or {}
    for path in ("joey-sdk", "joey-http-arrow"):
        cell = _cell(results, "aloha-tf", path, 10000)
        if cell:
            add(f"TensorFlow Aloha SavedModel, batch 10000: joey {path[5:]} vs TensorFlow called directly",
                cell.get("x_limit"), 1.0, True, "x TF",
                f"{cell['rows_per_s']:,.0f} rows/s; joey runs it as {tf.get('runtime')}")

    colds = [c["first_answer_s"] for c in results.get("cold_start", []) if c.get("first_answer_s")]
    cold = statistics.median(colds) if colds else None
    targets.append({"target": "cold start: deploy() to first answer (median)", "measured": cold,
                    "goal": 5.0, "goal_text": "< 5 s", "unit": " s",
                    "met": None if cold is None else cold < 5.0,
                    "detail": ", ".join(f"{c:.2f} s" for c in colds)})
    return targets


# ---------------------------------------------------------------- markdown


def _num(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _paths_of(results: dict[str, Any], model: str) -> list[str]:
    names = {c["path"] for c in results.get("batch", []) if c["model"] == model}
    return [p for p in PATH_ORDER if p in names] + sorted(names - set(PATH_ORDER))


def _models_of(results: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for cell in results.get("batch", []):
        if cell["model"] not in seen:
            seen.append(cell["model"])
    return seen


def batch_tables(results: dict[str, Any]) -> str:
    batches = results.get("batch_sizes", [])
    out: list[str] = []
    for model in _models_of(results):
        out.append(f"**{model}**: rows/s (median over n timed calls), x limit, x peer\n")
        out.append("| path | " + " | ".join(f"batch {b}" for b in batches) + " |")
        out.append("|---|" + "---:|" * len(batches))
        for path in _paths_of(results, model):
            row = [f"`{path}`"]
            for batch in batches:
                cell = _cell(results, model, path, batch)
                if cell is None:
                    row.append("")
                    continue
                if cell.get("skipped"):
                    row.append(f"skipped ({cell['skipped']})")
                    continue
                text = _num(cell["rows_per_s"])
                extras = []
                if path != "limit" and cell.get("x_limit") is not None:
                    extras.append(f"{cell['x_limit']:.2f}x L")
                if cell.get("x_peer") is not None:
                    extras.append(f"{cell['x_peer']:.2f}x P")
                if extras:
                    text += " (" + ", ".join(extras) + ")"
                if cell["median_s"] is not None:
                    text += f"<br>{cell['median_s'] * 1e3:.2f} ms, n={cell['repeats']}"
                if cell["failures"]:
                    text += f"<br>**{cell['failures']} failed**"
                row.append(text)
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    return "\n".join(out)


def small_requests_table(results: dict[str, Any]) -> str:
    loads = results.get("small_requests", [])
    if not loads:
        return "_not measured_\n"
    out = ["| server | clients | requests/s | p50 ms | p99 ms | requests | failed |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for entry in sorted(loads, key=lambda e: (e["name"], e["concurrency"])):
        out.append(f"| {entry['name']} | {entry['concurrency']} | "
                   f"{_num(entry['requests_per_s'], 1)} | {_num(entry['p50_ms'], 2)} | "
                   f"{_num(entry['p99_ms'], 2)} | {entry['requests']} | {entry['failures']} |")
    batching = results.get("batching") or {}
    note = (f"\n\n`joey` = the one-step pipeline in joey's default layout (one deployment: the "
            "ingress runs the model); `joey-batched` = the same model configured with "
            f"`dynamic_batching_config={batching.get('config')}`")
    if batching.get("configure_error"):
        note += f" (configure raised `{batching['configure_error']}`; deployed without it)"
    note += ("; `joey-separate*` = deployed with `DeploymentConfigBuilder().fuse_steps(False)` "
             "(the model in a deployment of its own behind a separate ingress: one more Serve hop).")
    if results.get("peer_tuned_max_ongoing_requests"):
        note += (f" `peer-tuned` = the peer with `max_ongoing_requests="
                 f"{results['peer_tuned_max_ongoing_requests']}` instead of Serve's default 5; it is "
                 "the peer the targets compare joey with (behind Serve's Python proxy, `peer` collapsed "
                 "under 32 clients).")
    return "\n".join(out) + note + "\n"


def chain_table(results: dict[str, Any]) -> str:
    chain = results.get("chain") or {}
    rows = [(k, v) for k, v in chain.items() if isinstance(v, dict)]
    if not rows:
        return "_not measured_\n"
    out = ["| pipeline, transport (single row, sequential) | p50 ms | p99 ms | requests | failed |",
           "|---|---:|---:|---:|---:|"]
    for name, v in rows:
        out.append(f"| {name} | {_num(v['p50_ms'], 2)} | {_num(v['p99_ms'], 2)} | "
                   f"{v['requests']} | {v['failures']} |")
    out.append("")
    out += ["", "| mode | transport | 1-step p50 ms | 3-step p50 ms | per extra step ms |",
            "|---|---|---:|---:|---:|"]
    for _, prefix, label in MODES:
        for transport in ("http-arrow", "sdk"):
            one = chain.get(f"1-step {prefix}{transport}")
            three = chain.get(f"3-step {prefix}{transport}")
            if one is None and three is None:
                continue
            step = chain.get(f"per_extra_step_{(prefix + transport).replace(' ', '-')}_ms")
            out.append(f"| {label} | {transport} | {_num(one and one['p50_ms'], 2)} | "
                       f"{_num(three and three['p50_ms'], 2)} | {_num(step, 2)} |")
    out.append("")
    out.append("Per extra step = (3-step p50 - 1-step p50) / 2.")
    return "\n".join(out) + "\n"


def cold_table(results: dict[str, Any]) -> str:
    colds = results.get("cold_start", [])
    if not colds:
        return "_not measured_\n"
    out = ["| repeat | deploy() returned s | first answer s | undeploy s | error |",
           "|---:|---:|---:|---:|---|"]
    for c in colds:
        out.append(f"| {c['repeat']} | {_num(c.get('deploy_returned_s'), 2)} | "
                   f"{_num(c.get('first_answer_s'), 2)} | {_num(c.get('undeploy_s'), 2)} | "
                   f"{c.get('error') or ''} |")
    return "\n".join(out) + "\n"


def stages_table(results: dict[str, Any]) -> str:
    """joey's own per-request work, stage by stage, and the price of one Serve hop."""
    stages = results.get("stages") or {}
    joey = stages.get("joey") or []
    if not joey:
        return "_not measured_\n"
    names = list(joey[0]["stages_us"])
    out = ["| µs per request (median, in one process) | "
           + " | ".join(f"{s['rows']:,} row(s)" for s in joey) + " |",
           "|---|" + "---:|" * len(joey)]
    for name in names:
        out.append(f"| joey: {name} | " + " | ".join(_num(s["stages_us"][name], 1) for s in joey)
                   + " |")
    out.append("| **joey: all stages** | " + " | ".join(f"**{_num(s['joey_total_us'], 1)}**"
                                                         for s in joey) + " |")
    out.append("| peer: whole handler (read, model, write) | "
               + " | ".join(_num(s["peer_handler_us"], 1) for s in joey) + " |")
    out.append("| answer bytes, joey / peer | " + " | ".join(
        f"{s['answer_bytes']['joey']:,} / {s['answer_bytes']['peer']:,}" for s in joey) + " |")
    for hop in stages.get("hop") or []:
        out.append(f"| one Serve handle round trip to a do-nothing deployment, "
                   f"{hop['rows']:,} row(s) ({hop['request_bytes']:,} bytes) | "
                   + " | ".join(_num(hop["round_trip_us"], 0) if s["rows"] == hop["rows"] else ""
                                for s in joey) + " |")
    return "\n".join(out) + "\n"


def targets_table(results: dict[str, Any]) -> str:
    out = ["| target | goal | measured | met | detail |", "|---|---|---|---|---|"]
    groups: dict[str, list[tuple[str, bool | None]]] = {}
    for t in results.get("targets", []):
        measured = "not measured" if t["measured"] is None else f"{t['measured']:.2f}{t['unit']}"
        met = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
        out.append(f"| {t['target']} | {t['goal_text']} | {measured} | {met} | {t['detail']} |")
        if t.get("group"):
            groups.setdefault(t["group"], []).append((t["mode"], t["met"]))
    mode = "quick" if results.get("quick") else "full"
    if groups:
        out.append("")
    for group, verdicts in groups.items():
        meeting = [m for m, met in verdicts if met]
        measured_modes = [m for m, met in verdicts if met is not None]
        if not measured_modes:
            said = "not measured"
        elif not meeting:
            said = "met by none of " + ", ".join(measured_modes)
        elif len(meeting) == len(verdicts):
            said = "met by all (" + ", ".join(meeting) + ")"
        else:
            said = "met by " + ", ".join(meeting) + " only"
        out.append(f"- {group}: {said}.")
    out.append("")
    out.append(f"From `{results.get('file', '')}` ({mode} run, {results.get('date')}, "
               f"{results.get('machine')}). The goals are the default layout's (joey's placement "
               "rule: the ingress runs in the first step's replicas and native models without "
               "settings of their own run in it, so the one- and three-step ccfraud pipelines "
               "are one deployment each); `separate` = `fuse_steps(False)`, every model a "
               "deployment of its own, shown for the price of the hops. `n/a`: not measured in "
               f"this run{' (quick mode has no batch 10000)' if results.get('quick') else ''}.")
    return "\n".join(out) + "\n"


def serve_defaults_table(results: dict[str, Any]) -> str:
    """The peer on a Ray with Serve's defaults vs the same peer on joey's Ray vs joey."""
    defaults = results.get("serve_defaults")
    if not defaults:
        return "_not measured_\n"
    summary = defaults.get("summary") or {}
    peer_name = "peer-tuned" if _load(results, "peer-tuned", 1) else "peer"
    rows = [
        ("10,000-row HTTP Arrow, rows/s (higher is better)", "plain peer",
         summary.get("rows_per_s_10000"), _rate(results, "ccfraud", "peer-http", 10000),
         _rate(results, "ccfraud", "joey-http-arrow", 10000), 0),
        ("single-row HTTP p50 ms, 1 client (lower is better)", peer_name,
         summary.get("p50_ms_1_client"), _field(_load(results, peer_name, 1), "p50_ms"),
         _field(_load(results, "joey", 1), "p50_ms"), 2),
        ("32 single-row clients, requests/s (higher is better)", peer_name,
         summary.get("requests_per_s_32_clients"),
         _field(_load(results, peer_name, 32), "requests_per_s"),
         _field(_load(results, "joey", 32), "requests_per_s"), 1),
    ]
    out = ["| ccfraud | app | app on Serve's defaults | app on joey's Ray | joey, default layout "
           "| joey / app on defaults | joey / app on joey's Ray | app on joey's Ray / app on "
           "defaults |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for label, app, on_defaults, on_joey, joey, digits in rows:
        ratios = [_ratio(joey, on_defaults), _ratio(joey, on_joey), _ratio(on_joey, on_defaults)]
        out.append(f"| {label} | {app} | {_num(on_defaults, digits)} | {_num(on_joey, digits)} | "
                   f"{_num(joey, digits)} | "
                   + " | ".join(_num(r, 2, "x") for r in ratios) + " |")
    failed = int(defaults.get("failures") or 0)
    note = ("\nApp on Serve's defaults: the peer on a Ray of its own started before the main run "
            "(`benchmarks/serve_defaults.py`: `joey.cluster.ensure_serve` with "
            "`serve_haproxy=False, serve_fast_replicas=False`, so HTTP goes through Serve's "
            "Python proxy and replicas keep Serve's default loop settings; what a user gets "
            "without joey). App on joey's Ray: the same peer in the main run (HAProxy in front, "
            "as joey starts Ray). 10,000 rows: the plain peer (`peer-http` of the batch sweep, "
            "same rows, median of the timed calls, 60 ms settle pause after each call); single "
            f"row: `{peer_name}` under the small-request loads. Ratios divide the numbers as "
            "shown (for p50, below 1 is faster).")
    if defaults.get("error"):
        note += f" **Error on Serve's defaults:** `{defaults['error']}`."
    if failed:
        note += f" **{failed} failed request(s) on Serve's defaults.**"
    return "\n".join(out) + "\n" + note + "\n"


def _serve_text(serve: dict[str, Any] | None) -> str:
    if not serve:
        return ""
    return (f"Serve's HTTP entry: {serve.get('http_entry')}, fast replicas "
            f"{'on' if serve.get('serve_fast_replicas') else 'off'}; ")


def results_markdown(results: dict[str, Any]) -> str:
    host = results.get("host", {})
    mode = "quick (`--quick`)" if results.get("quick") else "full"
    failures = results.get("failures", {})
    lines = [
        f"Run: {results.get('date')} on `{results.get('machine')}`, {mode}; "
        f"{host.get('cores')} cores ({host.get('cpu_model')}), {host.get('memory_gb')} GB; "
        f"Python {host.get('python')}, Ray {host.get('ray')}, onnxruntime "
        f"{host.get('onnxruntime')} ({', '.join(host.get('onnxruntime_providers', []))}); "
        f"{_serve_text(results.get('serve'))}"
        f"load average {results.get('loadavg_start')} at start, {results.get('loadavg_end')} "
        f"at end; took {results.get('elapsed_s')} s. Failed requests: "
        f"{sum(failures.values())} {failures}.",
        "",
    ]
    profile = results.get("profile")
    if profile:
        where = profile.get("report_relative") or profile.get("report")
        lines += [f"Profile of the hot path: {f'`{where}`' if where else 'not written'}"
                  f"{'; error: ' + profile['error'] if profile.get('error') else ''} "
                  "(summary under Profile below).", ""]
    if results.get("fatal"):
        lines += [f"**The run stopped early:** `{results['fatal']}`", ""]
    for name, m in results.get("models", {}).items():
        extra = ""
        if m.get("bare_ort_10000_rows_s"):
            extra = ("; 10,000 rows in bare onnxruntime: "
                     + ", ".join(f"{t:.2f} s" for t in m["bare_ort_10000_rows_s"]))
        lines.append(f"- `{name}`: {m['params']:,} parameters, input {m['input']}, "
                     f"{len(m['outputs'])} output(s){extra}")
    lines += ["", "#### Throughput by batch size", "", batch_tables(results),
              "#### Small requests (ccfraud, one row per request, HTTP Arrow)", "",
              small_requests_table(results), "",
              "#### The app on Serve's defaults, the app on joey's Ray, and joey (ccfraud)", "",
              serve_defaults_table(results), "",
              "#### Chained steps (ccfraud)", "", chain_table(results),
              "#### Per-request pieces (ccfraud, HTTP Arrow request)", "", stages_table(results),
              "#### Cold start (fresh one-step ccfraud pipeline; Ray already running)", "",
              cold_table(results)]
    if results.get("chart"):
        lines += [f"![throughput]({results['chart']})", ""]
    return "\n".join(lines)


def console_summary(results: dict[str, Any]) -> str:
    return "\n".join(["", results_markdown(results), "Targets:", targets_table(results)])


def _replace_between(text: str, start: str, end: str, body: str) -> str:
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    block = f"{start}\n{body.rstrip()}\n{end}"
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    text = readme.read_text() if readme.exists() else "# joey benchmarks\n"
    text = _replace_between(text, RESULTS_START, RESULTS_END, results_markdown(results))
    text = _replace_between(text, TARGETS_START, TARGETS_END, targets_table(results))
    readme.write_text(text)


# ---------------------------------------------------------------- chart


def write_chart(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    models = _models_of(results)
    if not models:
        return False
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.6), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for name in _paths_of(results, model):
            points = [(c["batch"], c["rows_per_s"]) for c in results["batch"]
                      if c["model"] == model and c["path"] == name and c["rows_per_s"]]
            if not points:
                continue
            points.sort()
            color, line = STYLES.get(name, ("C5", "-"))
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, linestyle=line, color=color, marker="o", label=name,
                    linewidth=2.2 if name == "limit" else 1.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(model)
        ax.set_xlabel("rows per request")
        ax.set_ylabel("rows/s (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    mode = "quick" if results.get("quick") else "full"
    fig.suptitle(f"joey vs bare onnxruntime (limit) vs hand-written Serve app (peer) - "
                 f"{results.get('date')} {results.get('machine')} ({mode})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- all outputs


def write_all(results: dict[str, Any], out_dir: Path, readme: Path | None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{results['date']}-{results['machine']}" + ("-quick" if results.get("quick") else "")
    json_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    add_ratios(results)
    results["targets"] = evaluate_targets(results)
    written = []
    if write_chart(results, png_path):
        written.append(png_path)
        results["chart"] = _relative(png_path, readme.parent if readme else out_dir)
    results["file"] = _relative(json_path, readme.parent if readme else out_dir)
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    written.insert(0, json_path)
    if readme is not None:
        update_readme(readme, results)
        written.append(readme)
    return written


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def main(argv: Iterable[str] | None = None) -> int:
    """Re-render README and chart from a results JSON: ``python -m benchmarks.report FILE
    [README] [--out DIR]`` (the JSON, with its targets recomputed, and the chart are written to
    ``--out``, by default beside FILE; the README is benchmarks/README.md unless given)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path, help="a results JSON written by benchmarks.run")
    parser.add_argument("readme", type=Path, nargs="?",
                        default=Path(__file__).resolve().parent / "README.md",
                        help="README whose results/targets markers are rewritten")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for the JSON and chart (default: beside RESULTS)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    results = json.loads(args.results.read_text())
    for path in write_all(results, args.out or args.results.parent, args.readme):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
