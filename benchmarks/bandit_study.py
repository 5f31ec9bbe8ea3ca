"""
The noisy contextual-bandit study: ADPO variants, DPO, GRPO and PPO on the 13 bandit scenarios at equal feedback.

    python benchmarks/bandit_study.py                      # the full study (13 scenarios x 7 methods x 5 seeds)
    python benchmarks/bandit_study.py --sweep adpo-grid    # one stage of the tuning sweep (4 scenarios x 2 seeds)
    python benchmarks/bandit_study.py --report-only        # tables and heat map from the CSV, no training

Every run trains one method on one scenario for ``--timesteps`` environment interactions (scored candidates for the
environment-scorer methods, env steps for PPO), then measures win-mass and regret exactly on ``--eval-contexts``
held-out contexts of the scenario's evaluation env (``eval_mode=True``: shifted contexts for ``shift-*``), also once
near half the budget. Seed ``s`` seeds the model, the training env, and the bandit problem itself
(``problem_seed = s``), so seeds are different problems as well as different learning runs; the sweep uses seeds
100 and 101, which the study does not, so the study measures the tuned defaults on problems they were not tuned on.

Each finished run appends one row to the CSV (flushed at once); a rerun skips the rows already there for the same
method, scenario, seed, budget and configuration (a changed yml entry is a new configuration, and is rerun). The
report (markdown tables, heat map) is written from the CSV rows of the requested runs at the end, or on Ctrl-C.

Exit codes: 0 done; 2 bad input (unknown method, scenario or sweep stage), nothing run; 130 interrupted (finished
rows are kept; rerun the same command to go on).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from bandit_study_report import write_report, write_sweep_report

from adpo_rl.agents import get_config, make_env, make_model
from adpo_rl.envs import SCENARIOS, BanditMetricsCallback

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
# The evaluation env and its held-out contexts get their own seed stream, apart from the training contexts.
EVAL_SEED_OFFSET = 1_000_000
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "bandit_study"
CSV_FIELDS = (
    "method",
    "algo",
    "scenario",
    "seed",
    "timesteps",
    "config_id",
    "timesteps_done",
    "win_mass",
    "regret",
    "mid_timesteps",
    "win_mass_mid",
    "regret_mid",
    "wall_s",
    "status",
    "hyperparams",
)


@dataclass(frozen=True)
class Method:
    """
    One column of the study: an algorithm of the zoo with its bandit yml entry, plus the overrides that make the variant.

    :param algo: zoo algorithm (``adpo``, ``dpo``, ``grpo``, ``ppo``)
    :param overrides: hyperparameters over the yml ``bandit`` entry (and the algorithm's preset)
    :param listwise: whether the method trains with the listwise ADPO loss (for the "listwise variants are best" count)
    :param description: one line for the report
    """

    algo: str
    overrides: dict[str, Any] = field(default_factory=dict)
    listwise: bool = False
    description: str = ""


METHODS: dict[str, Method] = {
    "adpo": Method("adpo", {}, True, "ADPO default: listwise, soft target, dynamic anchor (adpo.yml bandit entry)"),
    "adpo-fixed": Method("adpo", {"anchor": "fixed", "anchor_kwargs": None}, True, "ADPO listwise, fixed anchor"),
    "adpo-pairwise": Method("adpo", {"loss": "pairwise", "target": "soft"}, False, "ADPO pairwise loss, soft labels"),
    "adpo-kde": Method("adpo", {"target": "kde"}, True, "ADPO listwise, kde (rank-smoothed) target"),
    "dpo": Method("dpo", {}, False, "DPO: sampled pair, hard labels, fixed anchor, pairwise loss (zoo preset)"),
    "grpo": Method("grpo", {}, False, "GRPO: clipped ratio, group-normalised advantages, on-policy anchor (zoo preset)"),
    "ppo": Method("ppo", {}, False, "SB3 PPO (ppo.yml bandit entry)"),
}

NOISY_SCENARIOS = tuple(name for name in SCENARIOS if name != "none")
SWEEP_SCENARIOS = ("none", "gaussian-high", "cauchy-high", "flip-high")
SWEEP_SEEDS = (100, 101)

# The tuning sweep, stage by stage. Every ADPO configuration sets all the swept keys explicitly, so the sweep measures
# the same thing whatever the yml entry says later. Stage "adpo-anchor" is centred on the best "adpo-grid" point
# (temperature 4, beta 0.5, 2 gradient steps: best mean and best worst case; see docs/BENCHMARKS.md, "Noisy bandit
# study") and extends the temperature axis, which was still improving at the grid's edge.
_ADPO_SWEEP_BASE: dict[str, Any] = {
    "n_envs": 16,
    "learning_starts": 0,
    "batch_size": 64,
    "buffer_size": 5000,
    "learning_rate": 1e-3,
    "gradient_steps": 2,
    "temperature": 4.0,
    "beta": 0.5,
    "anchor": "ema",
    "anchor_kwargs": {"rate": 0.01},
    "group_size": 16,
    "whole_action_set": True,
}


_PPO_BASE: dict[str, Any] = {
    "n_steps": 32,
    "batch_size": 128,
    "n_epochs": 4,
    "learning_rate": 3e-3,
    "policy_kwargs": {"net_arch": [64, 64]},
}


def _adpo_point(**changes: Any) -> Method:
    return Method("adpo", {**_ADPO_SWEEP_BASE, **changes}, True)


def _sweep_stages() -> dict[str, dict[str, Method]]:
    grid = {
        f"adpo T={t:g} b={b:g} gs={gs}": _adpo_point(temperature=t, beta=b, gradient_steps=gs)
        for t in (1.0, 2.0, 4.0)
        for b in (0.5, 1.0)
        for gs in (2, 4, 8)
    }
    anchor = {
        "adpo ema 0.01": _adpo_point(),
        "adpo T=8": _adpo_point(temperature=8.0),
        "adpo T=8 b=1": _adpo_point(temperature=8.0, beta=1.0),
        "adpo T=16": _adpo_point(temperature=16.0),
        "adpo ema 0.05": _adpo_point(anchor_kwargs={"rate": 0.05}),
        "adpo ema 0.2": _adpo_point(anchor_kwargs={"rate": 0.2}),
        "adpo kl_triggered 0.05": _adpo_point(anchor="kl_triggered", anchor_kwargs={"threshold": 0.05}),
        "adpo kl_triggered 0.2": _adpo_point(anchor="kl_triggered", anchor_kwargs={"threshold": 0.2}),
        "adpo on_policy": _adpo_point(anchor="on_policy", anchor_kwargs=None),
        "adpo fixed": _adpo_point(anchor="fixed", anchor_kwargs=None),
        "adpo K=4 sampled": _adpo_point(group_size=4, whole_action_set=False),
        "adpo K=8 sampled": _adpo_point(group_size=8, whole_action_set=False),
        "adpo lr=3e-4": _adpo_point(learning_rate=3e-4),
        "adpo lr=3e-3": _adpo_point(learning_rate=3e-3),
        "adpo buffer 1000": _adpo_point(buffer_size=1000),
    }
    # Stage "adpo-final" combines the two best "adpo-anchor" changes (temperature 8 with beta 1; a 1000-group buffer,
    # which replays each scored group about as often over training instead of replaying the earliest ones most) and
    # checks the anchor choice again at that point.
    final = {
        f"adpo T={t:g} b={b:g} buffer {n}": _adpo_point(temperature=t, beta=b, buffer_size=n)
        for t, b, n in ((4.0, 0.5, 1000), (8.0, 0.5, 1000), (8.0, 1.0, 500), (8.0, 1.0, 1000), (8.0, 1.0, 2000))
    }
    final |= {
        "adpo T=8 b=1 buffer 1000 gs=4": _adpo_point(temperature=8.0, beta=1.0, buffer_size=1000, gradient_steps=4),
        "adpo T=8 b=1 buffer 1000 kl_triggered 0.2": _adpo_point(
            temperature=8.0, beta=1.0, buffer_size=1000, anchor="kl_triggered", anchor_kwargs={"threshold": 0.2}
        ),
        "adpo T=8 b=1 buffer 1000 fixed": _adpo_point(
            temperature=8.0, beta=1.0, buffer_size=1000, anchor="fixed", anchor_kwargs=None
        ),
    }
    baselines = {
        "dpo T=1 gs=1": Method("dpo", {"temperature": 1.0, "gradient_steps": 1}),
        "dpo T=1 gs=4": Method("dpo", {"temperature": 1.0, "gradient_steps": 4}),
        "dpo T=2 gs=1": Method("dpo", {"temperature": 2.0, "gradient_steps": 1}),
        "dpo T=0.5 gs=1": Method("dpo", {"temperature": 0.5, "gradient_steps": 1}),
        "dpo T=1 gs=1 lr=3e-3": Method("dpo", {"temperature": 1.0, "gradient_steps": 1, "learning_rate": 3e-3}),
        "dpo T=4 gs=1": Method("dpo", {"temperature": 4.0, "gradient_steps": 1}),
        "dpo T=8 gs=1": Method("dpo", {"temperature": 8.0, "gradient_steps": 1}),
        "grpo gs=2": Method("grpo", {"gradient_steps": 2}),
        "grpo gs=4": Method("grpo", {"gradient_steps": 4}),
        "grpo gs=8": Method("grpo", {"gradient_steps": 8}),
        "grpo gs=4 lr=3e-3": Method("grpo", {"gradient_steps": 4, "learning_rate": 3e-3}),
        # GRPO as published samples its group from the policy; the whole action set (the preset's default on a 10-arm
        # bandit) weights every arm alike instead. A small buffer keeps the groups close to the current policy.
        "grpo K=10 sampled gs=4": Method("grpo", {"gradient_steps": 4, "group_size": 10, "whole_action_set": False}),
        "grpo K=10 sampled buffer 256 gs=4": Method(
            "grpo", {"gradient_steps": 4, "group_size": 10, "whole_action_set": False, "buffer_size": 256}
        ),
        # PPO points name their network: SB3's default [64, 64] or the smaller [64] of tests/test_envs_metrics.py.
        "ppo n_steps=16 batch=64 lr=1e-3": Method(
            "ppo", {**_PPO_BASE, "n_steps": 16, "batch_size": 64, "learning_rate": 1e-3}
        ),
        "ppo n_steps=32 batch=128 lr=3e-3 [64]": Method("ppo", {**_PPO_BASE, "policy_kwargs": {"net_arch": [64]}}),
        "ppo n_steps=32 batch=128 lr=1e-3": Method("ppo", {**_PPO_BASE, "learning_rate": 1e-3}),
        "ppo n_steps=32 batch=128 lr=3e-3": Method("ppo", dict(_PPO_BASE)),
    }
    return {"adpo-grid": grid, "adpo-anchor": anchor, "adpo-final": final, "baselines": baselines}


SWEEP_STAGES = _sweep_stages()


@dataclass(frozen=True)
class RunKey:
    """Identity of one run in the CSV: a rerun of the same key is skipped."""

    method: str
    scenario: str
    seed: int
    timesteps: int
    config_id: str


def run_overrides(method: Method, seed: int) -> dict[str, Any]:
    """
    :param method: the method
    :param seed: the run's seed, also the bandit's ``problem_seed``
    :return: the method's overrides plus the problem seed
    """
    return {**method.overrides, "env_kwargs.problem_seed": seed}


def config_id(method: Method, scenario: str, seed: int) -> tuple[str, dict[str, Any]]:
    """
    :param method: the method
    :param scenario: the scenario
    :param seed: the seed
    :return: a short hash of the merged hyperparameters (yml entry, preset, overrides) and those hyperparameters
    """
    hyperparams = get_config(method.algo, scenario, overrides=run_overrides(method, seed)).hyperparams
    return hash_config(method.algo, hyperparams), hyperparams


def hash_config(algo: str, hyperparams: dict[str, Any]) -> str:
    """
    :param algo: zoo algorithm
    :param hyperparams: merged hyperparameters of a run
    :return: a short hash of what decides the run's result (the yml's ``n_timesteps`` does not: ``--timesteps`` does)
    """
    relevant = {key: value for key, value in hyperparams.items() if key != "n_timesteps"}
    text = json.dumps({"algo": algo, **relevant}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def train_and_evaluate(
    method_name: str, method: Method, scenario: str, seed: int, timesteps: int, eval_contexts: int
) -> dict[str, Any]:
    """
    Train one method on one scenario and measure it on held-out contexts of the evaluation env.

    :param method_name: the method's label
    :param method: the method
    :param scenario: a scenario name
    :param seed: model, training env and bandit problem seed
    :param timesteps: interaction budget (scored candidates, or env steps for PPO)
    :param eval_contexts: held-out contexts per evaluation
    :return: one CSV row (``status`` "ok", or "failed: <reason>" with NaN metrics when training diverged)
    """
    cid, hyperparams = config_id(method, scenario, seed)
    start = time.perf_counter()
    model = make_model(method.algo, scenario, seed=seed, device="cpu", overrides=run_overrides(method, seed))
    eval_env = make_env(scenario, 1, seed=EVAL_SEED_OFFSET + seed, env_kwargs={"problem_seed": seed}, evaluation=True)
    callback = BanditMetricsCallback(
        eval_env, eval_freq=max(1, timesteps // 2), n_contexts=eval_contexts, seed=EVAL_SEED_OFFSET + seed
    )
    status = "ok"
    try:
        model.learn(timesteps, callback=callback)
    except ValueError as error:
        # A run that diverges (NaN policy logits) is a result of the method, not a crash of the study: kept as a
        # failed row (NaN metrics, the reason in "status"), counted in the tables, never silently dropped.
        status = "failed: " + str(error).splitlines()[0][:200]
    finally:
        model.get_env().close()
    nan = {"win_mass": math.nan, "regret": math.nan}
    final_steps, final = (model.num_timesteps, nan) if status != "ok" else callback.evaluations[-1]
    mid_steps, mid = callback.evaluations[-2] if len(callback.evaluations) >= 3 else (final_steps, final)
    return {
        "method": method_name,
        "algo": method.algo,
        "scenario": scenario,
        "seed": seed,
        "timesteps": timesteps,
        "config_id": cid,
        "timesteps_done": final_steps,
        "win_mass": round(final["win_mass"], 6),
        "regret": round(final["regret"], 6),
        "mid_timesteps": mid_steps,
        "win_mass_mid": round(mid["win_mass"], 6),
        "regret_mid": round(mid["regret"], 6),
        "wall_s": round(time.perf_counter() - start, 2),
        "status": status,
        "hyperparams": json.dumps(hyperparams, sort_keys=True, default=str),
    }


def read_rows(path: Path) -> list[dict[str, Any]]:
    """
    :param path: a results CSV (may be missing)
    :return: its rows, numbers parsed
    """
    if not path.exists():
        return []
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for key in ("seed", "timesteps", "timesteps_done", "mid_timesteps"):
            row[key] = int(row[key])
        for key in ("win_mass", "regret", "win_mass_mid", "regret_mid", "wall_s"):
            row[key] = float(row[key])
        row["status"] = row.get("status") or "ok"
    return rows


def row_key(row: dict[str, Any]) -> RunKey:
    """:return: the run identity of a CSV row"""
    return RunKey(row["method"], row["scenario"], int(row["seed"]), int(row["timesteps"]), row["config_id"])


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row (with a header if the file is new), flushed to disk at once so an interruption loses nothing."""
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with path.open(newline="") as file:
            header = next(csv.reader(file), [])
        if tuple(header) != CSV_FIELDS:  # a CSV from an older version of this script: rewrite it with today's columns
            with path.open(newline="") as file:
                old_rows = list(csv.DictReader(file))
            with path.open("w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
                writer.writeheader()
                writer.writerows(
                    {"status": "ok", **{key: value for key, value in r.items() if key in CSV_FIELDS}} for r in old_rows
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        file.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip(),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--methods", nargs="+", metavar="METHOD", help=f"study methods (default: all of {', '.join(METHODS)})")
    parser.add_argument("--scenarios", nargs="+", metavar="SCENARIO", help="scenarios (default: all 13; sweep: 4)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: 0 1 2 3 4; sweep: 100 101)")
    parser.add_argument("--timesteps", type=int, default=40_000, help="interactions per run (default: 40000)")
    parser.add_argument("--eval-contexts", type=int, default=1000, help="held-out contexts per evaluation (default: 1000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--sweep", metavar="STAGE", help=f"run a tuning-sweep stage instead: {', '.join(SWEEP_STAGES)}")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the CSV, train nothing")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--quiet", action="store_true", help="no per-run lines")
    args = parser.parse_args(argv)
    if args.timesteps < 1 or args.eval_contexts < 1 or args.torch_threads < 1:
        parser.error("--timesteps, --eval-contexts and --torch-threads must be >= 1")
    return args


def _check_names(kind: str, names: list[str], valid: Iterable[str]) -> str | None:
    valid = list(valid)
    unknown = [name for name in names if name not in valid]
    if unknown:
        return f"unknown {kind} {', '.join(map(repr, unknown))}; valid {kind}s: {', '.join(valid)}"
    return None


def plan(args: argparse.Namespace) -> tuple[dict[str, Method], list[str], list[int], Path, str]:
    """
    :param args: parsed arguments
    :return: methods, scenarios, seeds, CSV path and report kind (``"study"`` or ``"sweep"``)
    :raises ValueError: on an unknown method, scenario or sweep stage, naming the valid ones
    """
    if args.sweep is not None:
        if args.sweep not in SWEEP_STAGES:
            raise ValueError(f"unknown sweep stage {args.sweep!r}; valid stages: {', '.join(SWEEP_STAGES)}")
        catalogue, kind = SWEEP_STAGES[args.sweep], "sweep"
        default_scenarios, default_seeds = list(SWEEP_SCENARIOS), list(SWEEP_SEEDS)
    else:
        catalogue, kind = METHODS, "study"
        default_scenarios, default_seeds = list(SCENARIOS), [0, 1, 2, 3, 4]
    method_names = args.methods or list(catalogue)
    scenarios = args.scenarios or default_scenarios
    for error in (_check_names("method", method_names, list(catalogue)), _check_names("scenario", scenarios, SCENARIOS)):
        if error:
            raise ValueError(error)
    csv_path = args.out / ("sweep.csv" if kind == "sweep" else "results.csv")
    return {name: catalogue[name] for name in method_names}, scenarios, args.seeds or default_seeds, csv_path, kind


def main(argv: list[str] | None = None) -> int:
    """Run the study (or a sweep stage) and write its report; see the module docstring for exit codes."""
    args = parse_args(argv)
    try:
        methods, scenarios, seeds, csv_path, kind = plan(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    torch.set_num_threads(args.torch_threads)
    runs = [(name, scenario, seed) for scenario in scenarios for name in methods for seed in seeds]
    keys = {run: RunKey(run[0], run[1], run[2], args.timesteps, config_id(methods[run[0]], run[1], run[2])[0]) for run in runs}
    wanted = set(keys.values())

    def report() -> None:
        rows = [row for row in read_rows(csv_path) if row_key(row) in wanted]
        if kind == "sweep":
            write_sweep_report(rows, list(methods), scenarios, args.out, args.sweep)
        else:
            write_report(rows, {name: methods[name] for name in methods}, scenarios, args.out, args.timesteps)

    if not args.report_only:
        done = {row_key(row) for row in read_rows(csv_path)}
        todo = [run for run in runs if keys[run] not in done]
        if not args.quiet:
            print(f"{len(runs) - len(todo)} of {len(runs)} runs already in {csv_path}; {len(todo)} to go", flush=True)
        try:
            for index, (name, scenario, seed) in enumerate(todo, 1):
                row = train_and_evaluate(name, methods[name], scenario, seed, args.timesteps, args.eval_contexts)
                append_row(csv_path, row)
                if not args.quiet:
                    print(
                        f"[{index}/{len(todo)}] {name} {scenario} seed {seed}: win_mass {row['win_mass']:.3f} "
                        f"regret {row['regret']:.3f} ({row['wall_s']:.1f} s)",
                        flush=True,
                    )
        except KeyboardInterrupt:
            print("interrupted: finished runs are saved; rerun the same command to go on", file=sys.stderr)
            report()
            return EXIT_INTERRUPTED
    report()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
