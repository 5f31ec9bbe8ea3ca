"""
Summarise a runs folder written by benchmarks/run.py: a markdown table per environment and a PNG of learning curves.

    python benchmarks/report.py runs                 # print the tables, write runs/results.md and runs/plots/*.png
    python benchmarks/report.py runs --out docs/     # refresh the docs assets (docs/results.md, docs/plots/*.png)
    python benchmarks/report.py runs/sweep/x/point runs/ppo --out docs/x    # one report from several folders

Per algorithm: the final evaluation return (mean ± 95% Student-t CI over seeds), the environment steps to reach
the env's reward threshold (gymnasium spec's reward_threshold; on bandits win_mass >= 0.8), training throughput,
and on bandits the final win-mass and regret. Only finished runs count (result.json status "ok"); a seed run
several times counts once (its latest run, over all the folders given). ``--include-interrupted`` also reports
runs stopped by Ctrl-C (or a time limit's SIGINT) up to where they got: their last evaluation is their "final"
one, the table says how many steps they trained, and a checkpoint cell that fewer seeds reached says so, e.g.
``765 (2/3 seeds)``; it also reports runs still training or killed uncaught (SIGKILL, out of memory: their
result.json is still the ``running`` placeholder) up to their last evaluation.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stats import curve_mean_ci, mean_ci

RESULT_FILE = "result.json"
EVAL_FILE = "eval.csv"
BANDIT_WIN_MASS_THRESHOLD = 0.8


REPORTED_STATUSES = ("ok",)
# "running": the placeholder train_one.py writes first, left behind by a run still training or killed uncaught.
UNFINISHED_STATUSES = ("interrupted", "running")
PARTIAL_STATUSES = REPORTED_STATUSES + UNFINISHED_STATUSES


@dataclass
class Run:
    """A reported run: its result file and its evaluations (column name -> values, by ``timesteps``)."""

    result: dict[str, Any]
    evals: dict[str, np.ndarray]

    @property
    def interrupted(self) -> bool:
        return self.result.get("status") in UNFINISHED_STATUSES

    @property
    def env(self) -> str:
        return self.result["config"]["env"]

    @property
    def algo(self) -> str:
        return self.result["config"]["algo"]

    @property
    def is_bandit(self) -> bool:
        return bool(self.result["config"].get("is_bandit"))


def read_eval_csv(path: Path) -> dict[str, np.ndarray]:
    """:return: column name -> float array (``nan`` for empty cells)"""
    with path.open() as file:
        rows = list(csv.DictReader(file))
    columns = rows[0].keys() if rows else ()
    return {key: np.array([float(row[key]) if row[key] not in ("", None) else math.nan for row in rows]) for key in columns}


def as_list(roots: Path | Sequence[Path]) -> list[Path]:
    """:return: the runs folders given as one path or several"""
    return [roots] if isinstance(roots, Path) else list(roots)


def load_runs(roots: Path | Sequence[Path], include_interrupted: bool = False) -> tuple[list[Run], int]:
    """
    :param roots: one or more runs folders (searched recursively for result.json)
    :param include_interrupted: also return runs stopped by Ctrl-C, still running or killed, with the evaluations
        they reached
    :return: the reported runs (latest per env, algo and seed) and the number of runs left out (unfinished, failed)
    """
    statuses = PARTIAL_STATUSES if include_interrupted else REPORTED_STATUSES
    latest: dict[tuple[str, str, int], Run] = {}
    not_ok = 0
    for path in (path for root in as_list(roots) for path in sorted(root.rglob(RESULT_FILE))):
        try:
            result = json.loads(path.read_text())
        except ValueError:
            not_ok += 1
            continue
        if result.get("status") not in statuses or not (path.parent / EVAL_FILE).exists():
            not_ok += 1
            continue
        run = Run(result, read_eval_csv(path.parent / EVAL_FILE))
        if "final_eval" not in result:  # the placeholder of a run that died (see train_one.write_placeholder)
            complete_from_evals(run)
        key = (run.env, run.algo, result["config"]["seed"])
        if key not in latest or result["started_at"] >= latest[key].result["started_at"]:
            latest[key] = run
    return list(latest.values()), not_ok


def complete_from_evals(run: Run) -> None:
    """
    Fill in what the placeholder result of an unfinished run lacks from the evaluations written so far: the last
    one is the final evaluation, and its step the steps trained (a lower bound); throughput stays unknown.
    """
    timesteps = run.evals.get("timesteps", np.array([]))
    last = {key: float(values[-1]) for key, values in run.evals.items()} if len(timesteps) else None
    run.result.update(final_eval=last, num_timesteps=int(timesteps[-1]) if last else 0, steps_per_s=None)


def threshold_of(run: Run) -> tuple[str, float] | None:
    """:return: (eval column, threshold) the "steps to threshold" column uses, or None when the env has none"""
    if run.is_bandit:  # the continuous bandit has regret only: no threshold
        return ("win_mass", BANDIT_WIN_MASS_THRESHOLD) if "win_mass" in run.evals else None
    import gymnasium as gym

    env_id = run.result["config"].get("env_id") or run.env
    try:
        threshold = gym.spec(env_id).reward_threshold
    except gym.error.Error:
        return None
    return ("mean_reward", float(threshold)) if threshold is not None else None


def steps_to_threshold(run: Run, column: str, threshold: float) -> float | None:
    """:return: the first evaluation's environment steps at which ``column >= threshold``, None if never"""
    values = run.evals.get(column)
    if values is None:
        return None
    reached = np.flatnonzero(values >= threshold)
    return float(run.evals["timesteps"][reached[0]]) if reached.size else None


def format_ci(values: list[float], spec: str = ".4g") -> str:
    """``mean ± half-width`` in format ``spec`` (``mean`` alone for one seed, ``n/a`` for none)."""
    mean, half = mean_ci(values)
    if math.isnan(mean):
        return "n/a"
    return format(mean, spec) if math.isnan(half) else f"{format(mean, spec)} ± {format(half, spec)}"


def env_table(runs_by_algo: dict[str, list[Run]]) -> str:
    """The markdown table of one environment (one row per algorithm)."""
    any_run = next(iter(runs_by_algo.values()))[0]
    threshold = threshold_of(any_run)
    bandit = any_run.is_bandit
    threshold_header = "steps to threshold" if threshold is None else f"steps to {threshold[0]} ≥ {threshold[1]:g}"
    header = ["algorithm", "seeds", "final eval/mean_reward", threshold_header, "steps/s"]
    if bandit:
        header += ["final win_mass", "final regret"]
    partial = any(r.interrupted for runs in runs_by_algo.values() for r in runs)
    if partial:
        header += ["steps trained (interrupted runs)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for algo, runs in sorted(runs_by_algo.items()):
        finals = [r.result["final_eval"] or {} for r in runs]
        if threshold is None:
            reach = "n/a"
        else:
            steps = [steps_to_threshold(r, *threshold) for r in runs]
            hit = [s for s in steps if s is not None]
            reach = (format_ci(hit, ".0f") if hit else "—") + f" ({len(hit)}/{len(runs)} seeds)"
        row = [
            algo,
            str(len(runs)),
            format_ci([f.get("mean_reward") for f in finals]),
            reach,
            format_ci([r.result["steps_per_s"] for r in runs], ".0f"),
        ]
        if bandit:
            row += [format_ci([f.get("win_mass") for f in finals], ".3f"), format_ci([f.get("regret") for f in finals], ".3g")]
        if partial:
            row.append(steps_trained(runs))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def steps_trained(runs: list[Run]) -> str:
    """``min to max`` environment steps the runs trained, and how many of them were interrupted."""
    steps = [int(r.result.get("num_timesteps") or 0) for r in runs]
    span = f"{min(steps):,}" if min(steps) == max(steps) else f"{min(steps):,} to {max(steps):,}"
    return f"{span} ({sum(r.interrupted for r in runs)}/{len(runs)} interrupted)"


def plot_env(env: str, runs_by_algo: dict[str, list[Run]], path: Path) -> None:
    """Write the mean ± 95% CI learning curves of every algorithm on ``env`` to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    any_run = next(iter(runs_by_algo.values()))[0]
    columns = ["mean_reward"] + [column for column in ("win_mass", "regret") if any_run.is_bandit and column in any_run.evals]
    threshold = threshold_of(any_run)
    fig, axes = plt.subplots(1, len(columns), figsize=(6 * len(columns), 4), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        for algo, runs in sorted(runs_by_algo.items()):
            curves = [(r.evals["timesteps"], r.evals[column]) for r in runs if column in r.evals and len(r.evals[column])]
            if not curves:
                continue
            steps, mean, half = curve_mean_ci(curves)
            (line,) = ax.plot(steps, mean, label=f"{algo} ({len(curves)} seeds)")
            if not np.all(np.isnan(half)):
                ax.fill_between(steps, mean - half, mean + half, color=line.get_color(), alpha=0.2)
        if threshold is not None and threshold[0] == column:
            ax.axhline(threshold[1], color="gray", linestyle="--", linewidth=1, label=f"threshold {threshold[1]:g}")
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"eval/{column}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{env}: mean ± 95% CI over seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # a long env name's title stays whole
    plt.close(fig)


def folder_name(env: str) -> str:
    """The env name as a file name (same rule as the run folders)."""
    from adpo_rl.agents.environments import env_folder_name

    return env_folder_name(env)


def value_at(run: Run, column: str, step: int) -> float | None:
    """
    :return: ``column`` at the last evaluation at or before environment step ``step`` (None before the first
        evaluation and past the last one: a run is not carried beyond its budget)
    """
    steps = run.evals["timesteps"]
    if not steps.size or step > steps[-1]:
        return None
    index = np.flatnonzero(steps <= step)
    return float(run.evals[column][index[-1]]) if index.size else None


def checkpoint_table(runs_by_algo: dict[str, list[Run]], checkpoints: list[int], column: str = "mean_reward") -> str:
    """The markdown table of ``column`` (mean ± 95% CI over seeds) per algorithm at each checkpoint."""
    lines = ["| algorithm | " + " | ".join(f"{c:,}" for c in checkpoints) + " |", "|---|" + "---|" * len(checkpoints)]
    for algo, runs in sorted(runs_by_algo.items()):
        cells = []
        for step in checkpoints:
            values = [v for v in (value_at(r, column, step) for r in runs) if v is not None]
            cell = format_ci(values, ".0f" if column == "mean_reward" else ".3f")
            cells.append(f"{cell} ({len(values)}/{len(runs)} seeds)" if 0 < len(values) < len(runs) else cell)
        lines.append(f"| {algo} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_report(
    roots: Path | Sequence[Path], out: Path, checkpoints: list[int] | None = None, include_interrupted: bool = False
) -> str:
    """
    :param roots: one or more runs folders, reported together (an env, algorithm and seed in several: the latest run)
    :param out: where ``results.md`` and ``plots/<env>.png`` go
    :param checkpoints: environment steps at which to tabulate the evaluation return of every algorithm
    :param include_interrupted: also report runs stopped by Ctrl-C, still running or killed, up to the evaluations
        they reached
    :return: the markdown report
    """
    roots = as_list(roots)
    runs, not_ok = load_runs(roots, include_interrupted)
    where = ", ".join(str(root) for root in roots)
    grouped: dict[str, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run.env][run.algo].append(run)
    sections = []
    for env in sorted(grouped):
        plot = out / "plots" / f"{folder_name(env)}.png"
        plot_env(env, grouped[env], plot)
        sections.append(f"### {env}\n\n{env_table(grouped[env])}\n\n![{env}]({plot.relative_to(out).as_posix()})\n")
        if checkpoints:
            table = checkpoint_table(grouped[env], checkpoints)
            sections.append(f"eval/mean_reward at checkpoints (environment steps):\n\n{table}\n")
    if not sections:
        sections.append(f"No finished runs under {where}.\n")
    if not_ok:
        sections.append(f"{not_ok} run(s) under {where} unfinished or failed, left out (see their result.json).\n")
    return "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    """Print the report of the ``RUNS`` folders and write its files; exit code 1 when there is no finished run."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip(),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", type=Path, nargs="+", help="runs folders written by benchmarks/run.py or sweep.py")
    parser.add_argument("--out", type=Path, help="folder for results.md and plots/ (default: the one runs folder)")
    parser.add_argument(
        "--checkpoints", type=int, nargs="+", help="environment steps at which to tabulate every algorithm's return"
    )
    parser.add_argument(
        "--include-interrupted",
        action="store_true",
        help="also report runs stopped by Ctrl-C or a time limit, still running or killed, up to their last evaluation",
    )
    args = parser.parse_args(argv)
    for runs in args.runs:
        if not runs.is_dir():
            parser.error(f"{runs} is not a folder")
    if args.out is None and len(args.runs) > 1:
        parser.error("with several runs folders, say where the report goes with --out")
    out = args.out or args.runs[0]
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(args.runs, out, args.checkpoints, args.include_interrupted)
    (out / "results.md").write_text(report)
    print(report)
    print(f"(written to {out / 'results.md'} and {out / 'plots'}/)")
    return 0 if "![" in report else 1


if __name__ == "__main__":
    sys.exit(main())
