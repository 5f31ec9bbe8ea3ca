"""Evaluation that logs the same tags for every algorithm, against environment steps."""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

ExtraMetrics = Callable[[BaseAlgorithm], dict[str, float]]


def write_atomically(path: Path, text: str) -> None:
    """
    Replace ``path`` by ``text`` so that a reader sees the old or the new file, never a partial one.

    :param path: destination
    :param text: the whole new content
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


class EvalLogCallback(BaseCallback):
    """
    Evaluate the policy every ``eval_freq`` environment steps and log ``eval/mean_reward``, ``eval/std_reward``
    (and any extra metrics, e.g. ``eval/win_mass``) at ``num_timesteps``, so curves of on- and off-policy
    algorithms, with any number of copies or group size, line up on one axis. Also evaluates before the first
    step and after the last one, and keeps every evaluation in :attr:`history` (and in ``csv_path``). A run resumed
    from a checkpoint sets :attr:`history` to the evaluations it had then; they are not repeated.

    :param eval_env: the evaluation environment (its ``VecNormalize`` statistics are synced from training)
    :param eval_freq: environment steps between evaluations
    :param n_eval_episodes: episodes per evaluation
    :param csv_path: file rewritten atomically with every evaluation, or None
    :param extra_metrics: function of the model returning more ``{"eval/<name>": value}`` to log
    :param deterministic: evaluate the deterministic policy (mode of the action distribution)
    :param verbose: 1 prints each evaluation
    """

    def __init__(
        self,
        eval_env: VecEnv,
        eval_freq: int,
        n_eval_episodes: int = 10,
        csv_path: str | Path | None = None,
        extra_metrics: ExtraMetrics | None = None,
        deterministic: bool = True,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        if eval_freq < 1:
            raise ValueError(f"eval_freq must be >= 1 environment step, not {eval_freq}")
        self.eval_env = eval_env
        self.eval_freq = eval_freq
        self.n_eval_episodes = n_eval_episodes
        self.csv_path = Path(csv_path) if csv_path is not None else None
        self.extra_metrics = extra_metrics
        self.deterministic = deterministic
        self.history: list[dict[str, float]] = []
        self.eval_time_s = 0.0
        self._next_eval = 0

    def _on_training_start(self) -> None:
        self._next_eval = self.num_timesteps
        if self.history and self.history[-1]["timesteps"] == self.num_timesteps:  # resumed right after this evaluation
            self._next_eval = (self.num_timesteps // self.eval_freq + 1) * self.eval_freq
        self._maybe_evaluate()

    def _on_step(self) -> bool:
        self._maybe_evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1]["timesteps"] != self.num_timesteps:
            self.evaluate()

    def _maybe_evaluate(self) -> None:
        if self.num_timesteps >= self._next_eval:
            self.evaluate()
            self._next_eval = (self.num_timesteps // self.eval_freq + 1) * self.eval_freq

    def evaluate(self) -> dict[str, float]:
        """Run one evaluation now, log it and return it (``timesteps``, ``mean_reward``, ``std_reward``, ...)."""
        start = time.perf_counter()
        if self.model.get_vec_normalize_env() is not None:
            sync_envs_normalization(self.training_env, self.eval_env)
        rewards, _ = evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic,
            return_episode_rewards=True,
            warn=False,
        )
        mean = sum(rewards) / len(rewards)
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / len(rewards))
        metrics: dict[str, float] = {"eval/mean_reward": float(mean), "eval/std_reward": float(std)}
        if self.extra_metrics is not None:
            metrics.update({key: float(value) for key, value in self.extra_metrics(self.model).items()})
        self.eval_time_s += time.perf_counter() - start
        for key, value in metrics.items():
            self.logger.record(key, value)
        self.logger.dump(self.num_timesteps)
        row = {"timesteps": self.num_timesteps, **{key.removeprefix("eval/"): value for key, value in metrics.items()}}
        self.history.append(row)
        if self.csv_path is not None:
            write_atomically(self.csv_path, rows_to_csv(self.history))
        if self.verbose:
            print(f"eval at {self.num_timesteps} steps: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        return row


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """
    :param rows: evaluations (same keys in each)
    :return: CSV text with a header line
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
