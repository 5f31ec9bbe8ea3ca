"""
Train algorithms x environments x seeds with one layout and one evaluation protocol.

    python benchmarks/run.py --algo adpo ppo --env CartPole-v1 --seeds 0 1 2
    python benchmarks/run.py --algo adpo sac --env Pendulum-v1 Pendulum-v1+cauchy-medium --seeds 0 1 2
    tensorboard --logdir runs

``ENV+NOISE-SEVERITY`` trains on rewards perturbed by :class:`~adpo_rl.envs.wrappers.NoisyReward` (the paper's noises:
gaussian / cauchy / flip at low / medium / high) and evaluates on the clean rewards.

Each run writes ``<log-dir>/<env>/<algo>/seed_<n>/``: TensorBoard events (``eval/mean_reward`` against environment
steps for every algorithm, ``eval/win_mass`` and ``eval/regret`` on bandits), ``eval.csv`` and ``result.json``.

Exit codes: 0 every run finished (or was already complete with --resume); 1 at least one run failed (its
``result.json`` holds the traceback; the other runs still finished); 2 bad input (unknown algorithm or env, malformed
--hp), nothing run; 3 some (algorithm, env) pairs were skipped as incompatible (e.g. SAC on a Discrete env), the
others finished; 130 interrupted by Ctrl-C or SIGTERM (completed runs are intact; rerun with --resume to finish the rest).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from queue import Empty
from typing import Any

from checkpoints import continued_runs
from run_plan import (
    CHECKPOINT_HELP,
    DEFAULT_CHECKPOINT_FREQ,
    RunSpec,
    UsageError,
    allocate_dirs,
    parse_overrides,
    plan_runs,
    resolve_names,
)
from tqdm import tqdm
from train_one import init_worker, record_lost_run, stop_on_sigterm, train_in_worker, train_one

from adpo_rl.agents import ALGOS

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip(),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--algo", nargs="+", required=True, metavar="ALGO", help=f"one or more of: {', '.join(ALGOS)}")
    parser.add_argument(
        "--env",
        nargs="+",
        required=True,
        metavar="ENV",
        help="one or more gymnasium ids (CartPole-v1, adpo_rl/ContextualBandit-v0, ...), bandit scenario names, or "
        "control envs trained on noisy rewards: CartPole-v1+cauchy-medium (NoisyReward; evaluation stays clean)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds, one run each (default: 0)")
    parser.add_argument("--timesteps", type=int, help="environment steps per run (default: the yml entry's n_timesteps)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="torch device (default: auto)")
    parser.add_argument("--n-envs", type=int, help="environment copies per run (default: the yml entry's n_envs)")
    parser.add_argument(
        "--hp",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter overrides, values as Python literals: --hp learning_rate=3e-4 policy_kwargs.net_arch=[64,64]; "
        "prefix with an algorithm to scope one: --hp ppo:n_epochs=10",
    )
    parser.add_argument("--log-dir", type=Path, default=Path("runs"), help="root of the run folders (default: runs)")
    parser.add_argument("--eval-freq", type=int, help="environment steps between evaluations (default: budget / 20)")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation (default: 10)")
    parser.add_argument("--checkpoint-freq", type=int, default=DEFAULT_CHECKPOINT_FREQ, help=CHECKPOINT_HELP)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, each in its own process (default: 1)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads per run (default: 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-run lines; warnings and errors only")
    parser.add_argument("--verbose", type=int, default=0, help="SB3 verbosity inside each run (default: 0)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument(
        "--resume",
        action="store_true",
        help="skip finished runs, continue unfinished ones from their checkpoint (else restart them in place)",
    )
    existing.add_argument("--overwrite", action="store_true", help="delete existing run folders first")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.eval_episodes < 1 or args.torch_threads < 1:
        parser.error("--jobs, --eval-episodes and --torch-threads must be >= 1")
    if (args.timesteps is not None and args.timesteps < 1) or (args.eval_freq is not None and args.eval_freq < 1):
        parser.error("--timesteps and --eval-freq must be >= 1")
    if args.checkpoint_freq < 0:
        parser.error("--checkpoint-freq must be >= 0 (0: no checkpoints)")
    return args


def describe(outcome: dict[str, Any]) -> str:
    """One line about a finished run."""
    final = outcome.get("final_eval") or {}
    reward = final.get("mean_reward")
    score = f"final eval/mean_reward {reward:.4g}" if isinstance(reward, float) else "no evaluation"
    extra = "".join(f", {key} {final[key]:.3g}" for key in ("win_mass", "regret") if isinstance(final.get(key), float))
    line = f"{outcome['status']:>11}  {outcome['label']}: {score}{extra}"
    if outcome["status"] == "failed" and outcome.get("error"):
        line += f"\n             {outcome['error'].strip().splitlines()[-1]} (traceback in {outcome['run_dir']}/result.json)"
    return line


def run_sequential(runs: list[RunSpec], quiet: bool) -> list[dict[str, Any]]:
    """Run one after the other in this process, with a progress bar per run; stop at Ctrl-C or SIGTERM."""
    stop_on_sigterm()
    outcomes = []
    for spec in runs:
        bar = None if quiet else tqdm(total=spec.timesteps, desc=spec.label, unit="step", dynamic_ncols=True, leave=False)
        report = None if bar is None else (lambda steps, bar=bar: bar.update(min(steps, bar.total) - bar.n))
        outcome = train_one(spec, report)
        if bar is not None:
            bar.close()
        outcomes.append(outcome)
        if not quiet:
            print(describe(outcome), flush=True)
        elif outcome["status"] != "ok":
            print(describe(outcome), file=sys.stderr, flush=True)
        if outcome["status"] == "interrupted":
            break
    return outcomes


def run_parallel(runs: list[RunSpec], jobs: int, quiet: bool) -> list[dict[str, Any]]:
    """Run ``jobs`` at a time, each in a fresh process, with one overall progress bar; Ctrl-C or SIGTERM stops all."""
    stop_on_sigterm()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    steps = [0] * len(runs)
    outcomes: dict[int, dict[str, Any]] = {}
    bar = (
        None
        if quiet
        else tqdm(total=sum(r.timesteps for r in runs), desc=f"{len(runs)} runs", unit="step", dynamic_ncols=True)
    )
    interrupted = False
    with ProcessPoolExecutor(jobs, context, init_worker, (queue,), max_tasks_per_child=1) as pool:
        futures = {pool.submit(train_in_worker, index, spec): index for index, spec in enumerate(runs)}
        pending = set(futures)
        while pending:
            try:
                finished, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                interrupted = True
                for future in pending:
                    future.cancel()
                # In case the signal reached only this process: SIGTERM, which workers handle even where they were
                # started with SIGINT ignored (background jobs of a script).
                for child in multiprocessing.active_children():
                    os.kill(child.pid, signal.SIGTERM)
                finished, pending = wait(pending).done, set()
            for future in finished:
                index = futures[future]
                outcomes[index] = collect(future, runs[index], interrupted)
                steps[index] = runs[index].timesteps
                if bar is not None:
                    bar.write(describe(outcomes[index]))
                elif outcomes[index]["status"] != "ok":
                    print(describe(outcomes[index]), file=sys.stderr, flush=True)
            while True:
                try:
                    index, done = queue.get_nowait()
                except Empty:
                    break
                if index not in outcomes:
                    steps[index] = min(done, runs[index].timesteps)
            if bar is not None:
                bar.update(sum(steps) - bar.n)
    if bar is not None:
        bar.close()
    return [outcomes[index] for index in sorted(outcomes)]


def collect(future, spec: RunSpec, interrupted: bool) -> dict[str, Any]:
    """The outcome of a pool future, also when the worker process died or the run was cancelled."""
    if future.cancelled():
        return {
            "status": "interrupted",
            "run_dir": spec.run_dir,
            "label": spec.label,
            "error": "not started",
            "final_eval": None,
        }
    try:
        return future.result()
    except Exception as error:  # the worker process died (killed, out of memory, ...) before writing its result
        status = "interrupted" if interrupted else "failed"
        record_lost_run(Path(spec.run_dir), status, f"the run's process died: {error!r}")
        return {"status": status, "run_dir": spec.run_dir, "label": spec.label, "error": repr(error), "final_eval": None}


def cuda_available() -> bool:
    """Whether torch can use a CUDA device."""
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark described by ``argv``; return the exit code (see the module docstring)."""
    args = parse_args(argv)
    if args.device == "cuda" and not cuda_available():
        print("run.py: error: --device cuda, but torch sees no CUDA device; use --device auto or cpu", file=sys.stderr)
        return EXIT_USAGE
    try:
        algos, envs = resolve_names(args.algo, args.env)
        overrides = parse_overrides(args.hp, algos)
        run_options = {
            "n_envs": args.n_envs,
            "device": args.device,
            "eval_episodes": args.eval_episodes,
            "torch_threads": args.torch_threads,
            "verbose": args.verbose,
            "checkpoint_freq": args.checkpoint_freq,
        }
        runs, rejected = plan_runs(
            algos,
            envs,
            args.seeds,
            log_dir=args.log_dir,
            timesteps=args.timesteps,
            overrides=overrides,
            run_options=run_options,
            eval_freq=args.eval_freq,
        )
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    for pair in rejected:
        print(f"skipping {pair.algo} on {pair.env}: {pair.reason}", file=sys.stderr)
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
    todo, skipped = allocate_dirs(runs, mode)
    if skipped and not args.quiet:
        print(f"{len(skipped)} run(s) already complete, skipped (--resume): " + ", ".join(r.label for r in skipped))
    continued = continued_runs(todo) if args.resume else []
    if continued and not args.quiet:
        print(f"{len(continued)} run(s) continue from their checkpoint: " + ", ".join(continued))
    try:
        if len(todo) == 1 or args.jobs == 1:
            outcomes = run_sequential(todo, args.quiet)
        else:
            outcomes = run_parallel(todo, min(args.jobs, len(todo)), args.quiet)
    except KeyboardInterrupt:  # between runs: every finished run already has its result.json
        print("interrupted: rerun the same command with --resume to finish the remaining runs", file=sys.stderr)
        return EXIT_INTERRUPTED
    statuses = [outcome["status"] for outcome in outcomes]
    interrupted = "interrupted" in statuses or len(outcomes) < len(todo)
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in ("ok", "failed", "interrupted") if s in statuses) or "none run"
    print(
        f"{len(todo)} run(s) in {args.log_dir}: {counts}; {len(skipped)} skipped, {len(rejected)} pair(s) rejected", flush=True
    )
    if interrupted:
        print("interrupted: rerun the same command with --resume to finish the remaining runs", file=sys.stderr)
        return EXIT_INTERRUPTED
    if "failed" in statuses:
        return EXIT_FAILED
    if rejected:
        return EXIT_REJECTED
    if not args.quiet:
        print(f"curves: tensorboard --logdir {args.log_dir}; table: python benchmarks/report.py {args.log_dir}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
