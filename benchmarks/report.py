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
    "joey-handle": ("C1", "-"), "joey-fused": ("C4", "-"), "joey-fused-out": ("C5", "--"),
    "joey-fused-http-arrow": ("C4", "-"),
}
PATH_ORDER = ("limit", "peer-http", "peer-handle", "joey-sdk", "joey-http-arrow", "joey-fused",
              "joey-fused-out", "joey-fused-http-arrow", "joey-http-json", "joey-handle")
# the deployment modes every mode-dependent target is evaluated for: (load name, chain prefix, label)
MODES = (("joey", "", "default (one deployment per step)"),
         ("joey-fused", "fused ", "fused (`fuse_steps`)"))


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
    """The issue's targets, each with the measured value, the goal and met (None = not measured)."""
    targets: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, goal: float, higher: bool, unit: str,
            detail: str = "", met: bool | None = None, group: str | None = None,
            mode: str | None = None) -> None:
        verdict = _verdict(measured, goal, higher) if met is None else met
        targets.append({"target": name, "measured": measured, "goal": goal,
                        "goal_text": f"{'≥' if higher else '≤'} {goal:g}{unit}",
                        "unit": unit, "met": verdict, "detail": detail, "group": group,
                        "mode": mode})

    for path, label in (("joey-sdk", "SDK"), ("joey-http-arrow", "HTTP Arrow")):
        cell = _cell(results, "aloha", path, 10000)
        add(f"aloha, batch 10000: joey {label} throughput vs limit",
            cell.get("x_limit") if cell else None, 0.9, True, "x limit",
            f"{cell['rows_per_s']:,.0f} rows/s" if cell and cell["rows_per_s"] else "")

    cell = _cell(results, "ccfraud", "joey-http-arrow", 10000)
    detail = f"{cell['rows_per_s']:,.0f} rows/s" if cell and cell["rows_per_s"] else ""
    fused = _cell(results, "ccfraud", "joey-fused", 10000) \
        or _cell(results, "ccfraud", "joey-fused-http-arrow", 10000)
    if fused and fused["rows_per_s"] and fused.get("x_peer") is not None:
        detail += f"; fused: {fused['rows_per_s']:,.0f} rows/s ({fused['x_peer']:.2f}x peer)"
    same_answer = _cell(results, "ccfraud", "joey-fused-out", 10000)
    if same_answer and same_answer["rows_per_s"] and same_answer.get("x_peer") is not None:
        detail += (f"; fused, `dataset[]=out` (the peer's answer content): "
                   f"{same_answer['rows_per_s']:,.0f} rows/s ({same_answer['x_peer']:.2f}x peer)")
    add("ccfraud, batch 10000: joey HTTP Arrow throughput vs peer HTTP",
        cell.get("x_peer") if cell else None, 1.0, True, "x peer", detail)

    # The peer of the small-request comparisons is the tuned one (max_ongoing_requests=64);
    # results from before it existed fall back to the default peer.
    peer_name = "peer-tuned" if _load(results, "peer-tuned", 1) else "peer"
    peer1 = _load(results, peer_name, 1)
    for name, _, label in MODES:
        joey1 = _load(results, name, 1)
        ratio = _ratio(_field(joey1, "p50_ms"), _field(peer1, "p50_ms"))
        add(f"single-row HTTP, one step, 1 client: joey p50 vs {peer_name} p50, {label}", ratio,
            1.2, False, "x peer",
            f"joey {joey1['p50_ms']:.2f} ms, {peer_name} {peer1['p50_ms']:.2f} ms"
            if ratio is not None and joey1 and peer1 else "",
            group=f"single-row p50 ≤ 1.2x {peer_name}", mode=label)

    chain = results.get("chain", {})
    for _, prefix, label in MODES:
        key = f"{prefix}http-arrow"
        per_step = chain.get(f"per_extra_step_{key.replace(' ', '-')}_ms")
        detail = ""
        if per_step is not None:
            sdk = chain.get(f"per_extra_step_{(prefix + 'sdk').replace(' ', '-')}_ms")
            detail = (f"1-step p50 {chain[f'1-step {key}']['p50_ms']:.2f} ms, 3-step p50 "
                      f"{chain[f'3-step {key}']['p50_ms']:.2f} ms (HTTP Arrow, single row); "
                      f"SDK: {sdk if sdk is not None else float('nan'):.2f} ms/step")
            if per_step < 0:
                detail += "; below 0: the step costs less than the noise between the blocks"
        add(f"each extra chained step adds (p50), {label}", per_step, 1.0, False, " ms", detail,
            group="extra step ≤ 1 ms", mode=label)

    for (without_name, _, label), with_name in zip(MODES, ("joey-batched", "joey-fused-batched"),
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
    note = (f"\n\n`joey-batched` = the same model configured with `dynamic_batching_config={batching.get('config')}`; "
            "`joey-fused*` = deployed with `DeploymentConfigBuilder().fuse_steps()` (the model runs "
            "inside the ingress replica)")
    if batching.get("configure_error"):
        note += f" (configure raised `{batching['configure_error']}`; deployed without it)"
    note += "."
    if results.get("peer_tuned_max_ongoing_requests"):
        note += (f" `peer-tuned` = the peer with `max_ongoing_requests="
                 f"{results['peer_tuned_max_ongoing_requests']}` instead of Serve's default 5; it is "
                 "the peer the targets compare joey with (`peer` collapses under 32 clients).")
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
        if all(met is None for _, met in verdicts):
            said = "not measured"
        elif not meeting:
            said = "met by neither mode"
        elif len(meeting) == len(verdicts):
            said = "met by both modes"
        else:
            said = "met by " + " and ".join(meeting) + " only"
        out.append(f"- {group}: {said}.")
    out.append("")
    out.append(f"From `{results.get('file', '')}` ({mode} run, {results.get('date')}, "
               f"{results.get('machine')}). `n/a`: not measured in this run"
               f"{' (quick mode has no batch 10000)' if results.get('quick') else ''}.")
    return "\n".join(out) + "\n"


def results_markdown(results: dict[str, Any]) -> str:
    host = results.get("host", {})
    mode = "quick (`--quick`)" if results.get("quick") else "full"
    failures = results.get("failures", {})
    lines = [
        f"Run: {results.get('date')} on `{results.get('machine')}`, {mode}; "
        f"{host.get('cores')} cores ({host.get('cpu_model')}), {host.get('memory_gb')} GB; "
        f"Python {host.get('python')}, Ray {host.get('ray')}, onnxruntime "
        f"{host.get('onnxruntime')} ({', '.join(host.get('onnxruntime_providers', []))}); "
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
    """Re-render README and chart from a results JSON: ``python -m benchmarks.report FILE``."""
    args = list(argv if argv is not None else sys.argv[1:])
    if not args:
        print("usage: python -m benchmarks.report RESULTS.json [README.md]")
        return 2
    source = Path(args[0])
    readme = Path(args[1]) if len(args) > 1 else Path(__file__).resolve().parent / "README.md"
    results = json.loads(source.read_text())
    for path in write_all(results, source.parent, readme):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
