"""
Train and evaluate one benchmark run, writing its TensorBoard events, ``eval.csv``, ``result.json`` and, when it
finishes, its final model (``model.zip``; ``vec_normalize.pkl`` where the entry normalises).
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from checkpoints import CheckpointCallback, find_checkpoint, remove_checkpoint, restore_model, save_model
from run_plan import EVAL_FILE, RESULT_FILE, RunSpec, read_result
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure

from adpo_rl.agents import EvalLogCallback, get_config, make_env, make_model, resolve_env
from adpo_rl.agents.callbacks import write_atomically

# The evaluation env gets its own seed stream so that evaluation contexts differ from training ones.
EVAL_SEED_OFFSET = 1_000_000
# Held-out contexts per bandit evaluation (win-mass and regret are averages over contexts).
BANDIT_EVAL_CONTEXTS = 1000
Progress = Callable[[int], None]


class ProgressCallback(BaseCallback):
    """
    Report ``num_timesteps`` to a function at most every ``min_interval_s`` seconds (and at the end).

    :param report: called with the number of environment steps done
    :param min_interval_s: minimum seconds between reports
    """

    def __init__(self, report: Progress, min_interval_s: float = 0.5):
        super().__init__()
        self.report = report
        self.min_interval_s = min_interval_s
        self._last = -math.inf

    def _on_step(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.min_interval_s:
            self._last = now
            self.report(self.num_timesteps)
        return True

    def _on_training_end(self) -> None:
        self.report(self.num_timesteps)


def cpu_model() -> str:
    """The processor's model name (Linux: ``/proc/cpuinfo``), or what ``platform`` knows of it, or ``"unknown"``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """
    Versions of Python and of the packages that decide a run's numbers, and the processor with the vector
    instructions torch uses on it: the same command repeats a run's evaluations exactly on the same kind of machine,
    while another processor's floating-point rounding (other SIMD kernels) can send a seed elsewhere.
    """
    found = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    for package in ("adpo-rl", "stable-baselines3", "torch", "gymnasium", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def finite_or_none(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_or_none(item) for item in value]
    return value


def bandit_metrics_fn(eval_env) -> Callable[[Any], dict[str, float]]:
    """``eval/win_mass`` and ``eval/regret`` of a model on held-out bandit contexts."""
    from adpo_rl.envs.metrics import bandit_metrics

    def metrics(model) -> dict[str, float]:
        values = bandit_metrics(model, eval_env, n_contexts=BANDIT_EVAL_CONTEXTS)
        return {key if "/" in key else f"eval/{key}": value for key, value in values.items()}

    return metrics


def best_eval(history: list[dict[str, float]]) -> dict[str, float] | None:
    """The evaluation with the highest finite mean reward."""
    finite = [row for row in history if math.isfinite(row["mean_reward"])]
    return max(finite, key=lambda row: row["mean_reward"]) if finite else None


def write_result(run_dir: Path, result: dict[str, Any]) -> None:
    """Write ``result`` to the run's ``result.json`` in one step (never half-written), non-finite numbers as null."""
    write_atomically(run_dir / RESULT_FILE, json.dumps(finite_or_none(result), indent=2, default=str) + "\n")


def write_placeholder(run_dir: Path, spec: RunSpec, started_at: str, env_config: dict[str, Any]) -> None:
    """
    Write a ``result.json`` with status ``running`` before training starts. A process killed where nothing can
    be caught (SIGKILL, out of memory, a machine taken away) leaves it behind, so the run still counts as unfinished
    (``report.py``, ``run.py --resume``) and ``report.py --include-interrupted`` can show its evaluations so far.

    :param run_dir: the run's folder
    :param spec: the run
    :param started_at: its start time (ISO 8601, UTC)
    :param env_config: what the report needs to know of the env (``env_id``, ``is_bandit``)
    """
    placeholder = {
        "status": "running",
        "error": "no result yet: still training, or killed before it could write one",
        "config": {**spec.to_dict(), **env_config, "command": sys.argv},
        "started_at": started_at,
        "pid": os.getpid(),
    }
    write_result(run_dir, placeholder)


def record_lost_run(run_dir: Path, status: str, error: str) -> None:
    """
    Give a run whose process died without writing its result (its ``result.json`` is still the ``running``
    placeholder) its final ``status`` and ``error``; a result the run wrote itself is left as it is.

    :param run_dir: the run's folder
    :param status: ``"failed"`` or ``"interrupted"``
    :param error: what happened
    """
    result = read_result(run_dir)
    if result is not None and result.get("status") == "running":
        write_result(run_dir, {**result, "status": status, "error": error})


def train_one(spec: RunSpec, report: Progress | None = None) -> dict[str, Any]:
    """
    Train ``spec`` to completion and write its result; never raises for a failing run, so one bad run cannot
    take the others' results with it. A run whose folder holds a checkpoint of the same configuration (a run
    killed after it wrote one, see ``checkpoints.py``) continues from it.

    :param spec: the run (its folder exists)
    :param report: progress function (environment steps done), or None
    :return: ``{"status": "ok" | "failed" | "interrupted", "run_dir", "label", "error", "final_eval"}``
    """
    torch.set_num_threads(spec.torch_threads)
    run_dir = Path(spec.run_dir)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    status, error, previous_handlers = "ok", None, {}
    env, model, eval_env, evaluator, config = None, None, None, None, None
    checkpoint = find_checkpoint(spec)
    earlier = checkpoint or {"wall_time_s": 0.0, "eval_time_s": 0.0, "resumed_from": [], "started_at": started_at}
    resumed_from = [*earlier["resumed_from"], checkpoint["num_timesteps"]] if checkpoint else []
    started_at = earlier["started_at"]

    def progress() -> dict[str, Any]:
        return {
            "wall_time_s": earlier["wall_time_s"] + time.perf_counter() - start,
            "eval_time_s": evaluator.eval_time_s if evaluator is not None else earlier["eval_time_s"],
            "resumed_from": resumed_from,
            "started_at": started_at,
        }

    try:
        env = resolve_env(spec.env)
        write_placeholder(run_dir, spec, started_at, {"env_id": env.env_id, "is_bandit": env.is_bandit})
        config = get_config(spec.algo, env, n_envs=spec.n_envs, overrides=spec.overrides)
        model = make_model(
            spec.algo,
            spec.env,
            seed=spec.seed,
            device=spec.device,
            n_envs=spec.n_envs,
            overrides=spec.overrides,
            verbose=spec.verbose,
        )
        if checkpoint is not None:
            model = restore_model(model, checkpoint, spec.device)
        model.set_logger(configure(str(run_dir), ["stdout", "tensorboard"] if spec.verbose else ["tensorboard"]))
        eval_env = make_env(
            env,
            n_envs=1,
            seed=spec.seed + EVAL_SEED_OFFSET,
            env_kwargs=config.env_kwargs,
            normalize=config.vec_normalize,
            evaluation=True,
        )
        evaluator = EvalLogCallback(
            eval_env,
            spec.eval_freq,
            spec.eval_episodes,
            csv_path=run_dir / EVAL_FILE,
            extra_metrics=bandit_metrics_fn(eval_env) if env.is_bandit else None,
        )
        evaluator.history = list(earlier.get("history", []))
        evaluator.eval_time_s = earlier["eval_time_s"]
        callbacks: list[BaseCallback] = [evaluator]
        if spec.checkpoint_freq > 0:
            callbacks.append(CheckpointCallback(spec, evaluator, progress))
        if report:
            callbacks.append(ProgressCallback(report))
        model.learn(spec.timesteps - model.num_timesteps, callback=CallbackList(callbacks), reset_num_timesteps=False)
        diverged = [row["timesteps"] for row in evaluator.history if not math.isfinite(row["mean_reward"])]
        if diverged:
            status, error = "failed", f"non-finite eval/mean_reward (NaN or inf) at environment steps {diverged}"
        else:
            save_model(run_dir, model)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (Ctrl-C) or SIGTERM"
        # A second Ctrl-C or SIGTERM (or the parent forwarding the first) must not cut the result file half-written.
        previous_handlers = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    except Exception:
        status, error = "failed", traceback.format_exc()
    times = progress()
    wall_time, eval_time = times["wall_time_s"], times["eval_time_s"]
    history = evaluator.history if evaluator is not None else []
    num_timesteps = int(model.num_timesteps) if model is not None else 0
    result = {
        "status": status,
        "error": error,
        "config": {
            **spec.to_dict(),
            "env_id": env.env_id if env is not None else None,
            "is_bandit": env.is_bandit if env is not None else None,
            "reward_noise": "-".join(env.reward_noise) if env is not None and env.reward_noise else None,
            "hyperparams_source": config.source if config else None,
            "hyperparams": config.hyperparams if config else None,
            "torch_device": str(model.device) if model is not None else None,
            "command": sys.argv,
        },
        "versions": versions(),
        "num_timesteps": num_timesteps,
        "final_eval": history[-1] if history else None,
        "best_eval": best_eval(history),
        "n_evals": len(history),
        "started_at": started_at,
        "resumed_from": resumed_from,
        "wall_time_s": wall_time,
        "eval_time_s": eval_time,
        # Throughput of training alone: evaluation time is excluded so algorithms compare fairly.
        "steps_per_s": num_timesteps / max(wall_time - eval_time, 1e-9),
    }
    write_result(run_dir, result)
    if status == "ok":
        remove_checkpoint(run_dir)
    for closable in (eval_env, model.get_env() if model is not None else None):
        if closable is not None:
            closable.close()
    for signum, handler in previous_handlers.items():
        signal.signal(signum, handler)
    return {"status": status, "run_dir": str(run_dir), "label": spec.label, "error": error, "final_eval": result["final_eval"]}


_progress_queue = None


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """
    Treat SIGTERM (``kill``, ``timeout``, batch schedulers) as Ctrl-C: the run in progress stops and writes its
    ``result.json`` as ``interrupted`` instead of dying without one.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)


def init_worker(queue) -> None:
    """Pool initializer: keep the queue progress reports go to, stop cleanly on SIGTERM."""
    global _progress_queue
    _progress_queue = queue
    stop_on_sigterm()


def train_in_worker(index: int, spec: RunSpec) -> dict[str, Any]:
    """Pool entry point: :func:`train_one`, reporting ``(index, steps)`` to the parent's queue."""
    queue = _progress_queue

    def report(steps: int) -> None:
        if queue is not None:
            queue.put((index, steps))

    return train_one(spec, report)
