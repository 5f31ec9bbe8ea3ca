"""
Evaluate the final models of finished benchmark runs again, with as many episodes as asked (rl-zoo's ``enjoy``
without rendering). Where two algorithms' curves differ by less than the noise of a 10-episode evaluation, 100
episodes per seed tell whether the gap is real.

    python benchmarks/evaluate.py runs/acrobot --episodes 100              # every finished run under runs/acrobot
    python benchmarks/evaluate.py runs/x/Acrobot-v1/adpo/seed_0 --episodes 20 --out runs/x/evaluation.json

``benchmarks/run.py`` keeps each finished run's final model in the run's folder (``model.zip``, and
``vec_normalize.pkl`` where the entry normalises). Each is evaluated with the deterministic policy, as during
training, on a new evaluation environment (``make_env(..., evaluation=True)``: no reward noise, the run's frozen
``VecNormalize`` statistics) seeded with ``--seed`` (default: the run's seed plus an offset of its own, so the
episodes differ from those of the evaluations during training). Prints one row per run and, per environment and
algorithm, the mean over seeds with its 95% CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from checkpoints import MODEL_FILE, VEC_NORMALIZE_FILE
from run_plan import RESULT_FILE
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize
from stats import mean_ci
from train_one import EVAL_SEED_OFFSET

from adpo_rl.agents import get_config, make_env
from adpo_rl.agents.registry import get_algo_spec

# Seeds of these evaluations: apart from training's (seed) and the evaluations during training (seed + EVAL_SEED_OFFSET).
EVALUATE_SEED_OFFSET = 2 * EVAL_SEED_OFFSET


def find_runs(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """
    The run folders under ``paths`` (a folder holding ``result.json`` is a run; others are searched).

    :param paths: run folders or folders above them
    :return: (runs with a final model, runs without one: unfinished, or written before runs kept their model)
    :raises FileNotFoundError: for a path that does not exist or holds no run
    """
    with_model: list[Path] = []
    without_model: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        runs = [path] if (path / RESULT_FILE).is_file() else sorted(p.parent for p in path.rglob(RESULT_FILE))
        if not runs:
            raise FileNotFoundError(f"{path} holds no benchmark run (no {RESULT_FILE} in it or below it)")
        for run in runs:
            (with_model if (run / MODEL_FILE).is_file() else without_model).append(run)
    return with_model, without_model


def evaluate_run(run_dir: str | Path, episodes: int, seed: int | None = None, device: str = "cpu") -> dict[str, Any]:
    """
    Evaluate one run's final model.

    :param run_dir: the run's folder (``result.json`` and ``model.zip``)
    :param episodes: evaluation episodes (>= 1)
    :param seed: seed of the evaluation environment (None: the run's seed + :data:`EVALUATE_SEED_OFFSET`)
    :param device: torch device of the loaded model
    :return: ``env``, ``algo``, ``seed``, ``num_timesteps``, ``episodes``, ``mean_reward``, ``std_reward``
        and the episode ``returns``
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    run_dir = Path(run_dir)
    spec = json.loads((run_dir / RESULT_FILE).read_text())["config"]
    algo, env_name = spec["algo"], spec["env"]
    config = get_config(algo, env_name, n_envs=spec.get("n_envs"), overrides=spec.get("overrides") or {})
    env_seed = spec["seed"] + EVALUATE_SEED_OFFSET if seed is None else seed
    eval_env = make_env(env_name, 1, seed=env_seed, env_kwargs=config.env_kwargs, evaluation=True)
    if config.vec_normalize is not None:
        if not (run_dir / VEC_NORMALIZE_FILE).is_file():
            raise FileNotFoundError(f"{run_dir} normalises observations but has no {VEC_NORMALIZE_FILE} beside its model")
        eval_env = VecNormalize.load(str(run_dir / VEC_NORMALIZE_FILE), eval_env)
        eval_env.training, eval_env.norm_reward = False, False
    try:
        model = get_algo_spec(algo).load_class().load(run_dir / MODEL_FILE, device=device)
        returns, _ = evaluate_policy(
            model, eval_env, n_eval_episodes=episodes, deterministic=True, return_episode_rewards=True, warn=False
        )
    finally:
        eval_env.close()
    values = np.asarray(returns, dtype=float)
    return {
        "run_dir": str(run_dir),
        "env": env_name,
        "algo": algo,
        "seed": spec["seed"],
        "eval_seed": env_seed,
        "num_timesteps": int(model.num_timesteps),
        "episodes": episodes,
        "mean_reward": float(values.mean()),
        "std_reward": float(values.std()),
        "returns": values.tolist(),
    }


def summarise(results: list[dict[str, Any]]) -> str:
    """
    :param results: from :func:`evaluate_run`
    :return: markdown: a row per run (mean, std and standard error over its episodes), then per environment and
        algorithm the mean over seeds ± 95% CI
    """
    lines = [
        "| env | algo | seed | steps | episodes | mean return | std | std error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in results:
        stderr = r["std_reward"] / np.sqrt(r["episodes"])
        lines.append(
            f"| {r['env']} | {r['algo']} | {r['seed']} | {r['num_timesteps']} | {r['episodes']} "
            f"| {r['mean_reward']:.2f} | {r['std_reward']:.2f} | {stderr:.2f} |"
        )
        groups[(r["env"], r["algo"])].append(r["mean_reward"])
    lines += ["", "| env | algo | seeds | mean return ± 95% CI |", "|---|---|---|---|"]
    for (env, algo), means in groups.items():
        mean, ci = mean_ci(means)
        lines.append(f"| {env} | {algo} | {len(means)} | {mean:.2f} ± {ci:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip(),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", help="run folders, or folders above them (e.g. a --log-dir)")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per run (default: 100)")
    parser.add_argument("--seed", type=int, default=None, help="seed of every evaluation env (default: per run)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--out", default=None, help="also write the results (episode returns included) as JSON")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    try:
        runs, skipped = find_runs(args.paths)
    except FileNotFoundError as error:
        parser.error(str(error))
    for run in skipped:
        print(f"skipped {run}: no {MODEL_FILE} (the run did not finish, or predates saved final models)", file=sys.stderr)
    if not runs:
        parser.error(f"no run under {' '.join(args.paths)} has a final model ({MODEL_FILE})")
    try:
        results = [evaluate_run(run, args.episodes, args.seed, args.device) for run in runs]
    except FileNotFoundError as error:  # a normalising run without its statistics
        parser.error(str(error))
    print(summarise(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
