"""
Grid sweep of one algorithm's hyperparameters on one or more environments, ranked by learning-curve area.

    python benchmarks/sweep.py --algo adpo --env Acrobot-v1 --seeds 0 --timesteps 40000 --eval-freq 5000 \\
        --grid normalize zscore none --grid anchor ema on_policy --hp n_steps=3 --jobs 2

Every point of the grid (the cartesian product of the ``--grid`` lists, each value a Python literal or a string) is
trained with the same runner, layout and evaluation protocol as ``benchmarks/run.py``, in
``<log-dir>/<point>/<env>/<algo>/seed_<n>/``; ``--hp`` items apply to every point. Finished runs are kept, so
rerunning the same command resumes an interrupted sweep (a killed run continues from its latest checkpoint). The
ranking (printed, and written to ``<log-dir>/sweep.md``) scores each point by the mean evaluation return over all
checkpoints after step 0 (the area under the learning curve, which rewards learning early as well as ending high),
averaged over seeds, with the final evaluation beside it.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
from checkpoints import continued_runs
from report import load_runs
from run import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, run_parallel, run_sequential
from run_plan import (
    CHECKPOINT_HELP,
    DEFAULT_CHECKPOINT_FREQ,
    UsageError,
    allocate_dirs,
    parse_literal,
    parse_overrides,
    plan_runs,
    resolve_names,
)

from adpo_rl.agents import ALGOS
from adpo_rl.agents.environments import env_folder_name

SWEEP_FILE = "sweep.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip(),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--algo", required=True, help=f"one of: {', '.join(ALGOS)}")
    parser.add_argument("--env", nargs="+", required=True, help="environments (as for benchmarks/run.py)")
    parser.add_argument(
        "--grid",
        nargs="+",
        action="append",
        required=True,
        metavar="KEY VALUE",
        help="a hyperparameter and its values: --grid temperature 0.5 1 2 (repeat for more keys)",
    )
    parser.add_argument("--hp", nargs="+", default=[], metavar="KEY=VALUE", help="fixed overrides for every point")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (default: 0)")
    parser.add_argument("--timesteps", type=int, help="environment steps per run (default: the yml entry's)")
    parser.add_argument("--eval-freq", type=int, help="steps between evaluations (default: budget / 20)")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation (default: 10)")
    parser.add_argument("--log-dir", default="runs/sweep", help="root of the sweep (default: runs/sweep)")
    parser.add_argument("--checkpoint-freq", type=int, default=DEFAULT_CHECKPOINT_FREQ, help=CHECKPOINT_HELP)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default: 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.checkpoint_freq < 0:
        parser.error("--checkpoint-freq must be >= 0 (0: no checkpoints)")
    return args


def grid_points(grid: list[list[str]]) -> list[dict[str, Any]]:
    """
    :param grid: ``[[key, value, ...], ...]`` as given on the command line
    :return: every combination, one dict per point, in command-line order
    :raises UsageError: for a key without values or given twice
    """
    keys = [item[0] for item in grid]
    for item in grid:
        if len(item) < 2:
            raise UsageError(f"--grid {item[0]} has no values; give them after the key: --grid {item[0]} 1 2")
    if len(set(keys)) != len(keys):
        raise UsageError(f"--grid repeats a key: {', '.join(keys)}")
    values = [[parse_literal(text) for text in item[1:]] for item in grid]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def point_name(point: dict[str, Any]) -> str:
    """The folder of one grid point: ``temperature=2_anchor=ema``."""
    return env_folder_name("_".join(f"{key}={value}" for key, value in point.items()))


def rank(log_dir: Path, points: list[dict[str, Any]], algo: str) -> str:
    """
    :param log_dir: the sweep root
    :param points: the grid points
    :param algo: the swept algorithm
    :return: a markdown table per environment, best point first
    """
    rows: dict[str, list[tuple[float, float, int, str]]] = {}
    for point in points:
        runs, _ = load_runs(log_dir / point_name(point))
        by_env: dict[str, list] = {}
        for run in runs:
            if run.algo == algo:
                by_env.setdefault(run.env, []).append(run)
        for env, env_runs in by_env.items():
            areas = [float(np.mean(run.evals["mean_reward"][run.evals["timesteps"] > 0])) for run in env_runs]
            finals = [float(run.evals["mean_reward"][-1]) for run in env_runs]
            label = ", ".join(f"{key}={value!r}" for key, value in point.items())
            rows.setdefault(env, []).append((float(np.mean(areas)), float(np.mean(finals)), len(env_runs), label))
    lines = []
    for env, env_rows in rows.items():
        lines += [f"### {algo} on {env}", "", "| point | curve mean | final | seeds |", "|---|---:|---:|---:|"]
        for area, final, seeds, label in sorted(env_rows, reverse=True):
            lines.append(f"| {label} | {area:.1f} | {final:.1f} | {seeds} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the sweep described by ``argv``; return run.py's exit codes."""
    args = parse_args(argv)
    log_dir = Path(args.log_dir)
    try:
        algos, envs = resolve_names([args.algo], args.env)
        points = grid_points(args.grid)
        fixed = parse_overrides(args.hp, algos)[algos[0]]
        runs = []
        for point in points:
            point_runs, rejected = plan_runs(
                algos,
                envs,
                args.seeds,
                log_dir=log_dir / point_name(point),
                timesteps=args.timesteps,
                overrides={algos[0]: {**fixed, **point}},
                run_options={"eval_episodes": args.eval_episodes, "checkpoint_freq": args.checkpoint_freq},
                eval_freq=args.eval_freq,
            )
            if rejected:
                raise UsageError("; ".join(f"{pair.algo} on {pair.env}: {pair.reason}" for pair in rejected))
            runs += point_runs
    except UsageError as error:
        print(f"sweep.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    todo, done = allocate_dirs(runs, "resume")
    continued = continued_runs(todo)
    print(f"{len(points)} point(s) x {len(envs)} env(s) x {len(args.seeds)} seed(s): {len(todo)} to run, {len(done)} done")
    if continued:
        print(f"{len(continued)} continue from their checkpoint: " + ", ".join(continued))
    try:
        if args.jobs > 1 and len(todo) > 1:
            outcomes = run_parallel(todo, min(args.jobs, len(todo)), args.quiet)
        else:
            outcomes = run_sequential(todo, args.quiet)
    except KeyboardInterrupt:
        outcomes = [{"status": "interrupted"}]
    table = rank(log_dir, points, algos[0])
    (log_dir / SWEEP_FILE).write_text(table + "\n")
    print(table)
    statuses = [outcome["status"] for outcome in outcomes]
    if "interrupted" in statuses or len(outcomes) < len(todo):
        print("interrupted: rerun the same command to finish the sweep", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if "failed" in statuses else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
