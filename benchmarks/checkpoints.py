"""
Mid-run checkpoints of a benchmark run, so that ``run.py --resume`` continues a killed run instead of restarting it.

A checkpoint is the folder ``<run_dir>/checkpoint/``: the model (``model.zip``: weights, optimisers, counters, the
anchor), its replay buffer (off-policy algorithms), the ``VecNormalize`` statistics (where the entry normalises) and
``state.json`` (the run's spec, its evaluations so far, the time spent). It is written right after an evaluation, at
least ``checkpoint_freq`` environment steps after the previous one, by writing a new folder and then swapping it in,
so a kill at any moment leaves one complete checkpoint. A run that finishes deletes it, and keeps its final model
(``model.zip``, and ``vec_normalize.pkl`` where the entry normalises) in the run's folder: ``benchmarks/evaluate.py``
evaluates it again.

A resumed run starts new episodes from the checkpoint's step (a simulator's state cannot be saved), with its random
generators seeded anew from the seed and the step: it continues the same training, but is not bit-for-bit the run
that would have finished without the interruption.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from adpo_rl.agents import EvalLogCallback

if TYPE_CHECKING:  # run_plan imports this module
    from run_plan import RunSpec

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
MODEL_FILE = "model.zip"
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
VEC_NORMALIZE_FILE = "vec_normalize.pkl"
# RunSpec fields a checkpoint must share with the run that continues from it (the budget may grow).
SAME_RUN_FIELDS = ("algo", "env", "seed", "overrides", "n_envs", "eval_freq", "eval_episodes")


def checkpoint_path(run_dir: str | Path) -> Path:
    """The checkpoint folder of a run."""
    return Path(run_dir) / CHECKPOINT_DIR


def _spare_path(run_dir: str | Path, kind: str) -> Path:
    return Path(run_dir) / f".{CHECKPOINT_DIR}.{kind}"


def find_checkpoint(spec: RunSpec) -> dict[str, Any] | None:
    """
    The checkpoint ``spec`` can continue from: the one in its folder, written by a run of the same algorithm, env,
    seed, hyperparameters and evaluation protocol, short of the budget.

    :param spec: the run about to start
    :return: the checkpoint's ``state.json`` with its folder under ``"path"``, or None
    """
    for path in (checkpoint_path(spec.run_dir), _spare_path(spec.run_dir, "old")):
        try:
            state = json.loads((path / STATE_FILE).read_text())
        except (OSError, ValueError):
            continue
        saved = state.get("spec", {})
        if all(saved.get(key) == getattr(spec, key) for key in SAME_RUN_FIELDS) and state["num_timesteps"] < spec.timesteps:
            return {**state, "path": str(path)}
    return None


def continued_runs(runs: list[RunSpec]) -> list[str]:
    """
    :param runs: runs about to start
    :return: ``"<label> from <steps> steps"`` for each that continues from a checkpoint
    """
    found = ((run, find_checkpoint(run)) for run in runs)
    return [f"{run.label} from {state['num_timesteps']} steps" for run, state in found if state is not None]


def save_model(folder: str | Path, model: BaseAlgorithm) -> None:
    """
    Save what acting needs: ``model.zip`` (SB3's ``save``) and, where the entry normalises, ``vec_normalize.pkl``.

    :param folder: an existing folder (a checkpoint's, or the run's own for its final model)
    :param model: the model
    """
    model.save(Path(folder) / MODEL_FILE)
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        vec_normalize.save(str(Path(folder) / VEC_NORMALIZE_FILE))


def save_checkpoint(
    run_dir: str | Path, model: BaseAlgorithm, spec: RunSpec, history: list[dict[str, float]], progress: dict[str, Any]
) -> None:
    """
    Write the run's checkpoint, replacing the previous one only once the new one is complete.

    :param run_dir: the run's folder
    :param model: the model in training
    :param spec: the run
    :param history: its evaluations so far
    :param progress: more of the run's state to keep: ``wall_time_s`` and ``eval_time_s`` spent so far over all
        its sessions, ``resumed_from`` (the steps of earlier resumptions)
    """
    new, old, final = _spare_path(run_dir, "new"), _spare_path(run_dir, "old"), checkpoint_path(run_dir)
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    save_model(new, model)
    if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        model.save_replay_buffer(new / REPLAY_BUFFER_FILE)
    state = {"spec": spec.to_dict(), "num_timesteps": int(model.num_timesteps), "history": history, **progress}
    # state.json last: a folder without it is never taken for a checkpoint.
    (new / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def remove_checkpoint(run_dir: str | Path) -> None:
    """Delete a run's checkpoint folders (the run finished: it needs none)."""
    for path in (checkpoint_path(run_dir), _spare_path(run_dir, "old"), _spare_path(run_dir, "new")):
        shutil.rmtree(path, ignore_errors=True)


def restore_model(model: BaseAlgorithm, checkpoint: dict[str, Any], device: str) -> BaseAlgorithm:
    """
    Load a checkpoint into a model of the same configuration.

    :param model: a freshly built model of the run (its training environment is reused)
    :param checkpoint: from :func:`find_checkpoint`
    :param device: torch device
    :return: the checkpoint's model on ``model``'s environment, its replay buffer and normalisation restored
    """
    path = Path(checkpoint["path"])
    env = model.get_env()
    if (path / VEC_NORMALIZE_FILE).is_file() and isinstance(env, VecNormalize):
        env = VecNormalize.load(str(path / VEC_NORMALIZE_FILE), env.venv)
    restored = type(model).load(path / MODEL_FILE, env=env, device=device)
    if (path / REPLAY_BUFFER_FILE).is_file() and isinstance(restored, OffPolicyAlgorithm):
        restored.load_replay_buffer(path / REPLAY_BUFFER_FILE)
        buffer = restored.replay_buffer
        if buffer is not None and buffer.size() > 0:
            # The interruption cut the last stored episode short: a truncation, so n-step returns stop there.
            last = (buffer.pos - 1) % buffer.buffer_size
            buffer.dones[last] = 1.0
            if getattr(buffer, "handle_timeout_termination", False):
                buffer.timeouts[last] = 1.0
    # New episodes from here: the environment is reset at the start of learn(), with generators seeded anew.
    restored._last_obs = None  # type: ignore[assignment]
    restored.set_random_seed(int(checkpoint["spec"]["seed"]) + restored.num_timesteps)
    return restored


class CheckpointCallback(BaseCallback):
    """
    Save the run's checkpoint right after an evaluation, at least ``checkpoint_freq`` environment steps after the
    previous checkpoint. Comes after ``evaluator`` in the callback list.

    :param spec: the run (``run_dir``, ``checkpoint_freq``)
    :param evaluator: the run's evaluation callback (its history goes into the checkpoint)
    :param progress: function returning the rest of the state to keep (see :func:`save_checkpoint`)
    """

    def __init__(self, spec: RunSpec, evaluator: EvalLogCallback, progress: Callable[[], dict[str, Any]]):
        super().__init__()
        if spec.checkpoint_freq < 1:
            raise ValueError(f"checkpoint_freq must be >= 1 environment step, not {spec.checkpoint_freq}")
        self.spec = spec
        self.evaluator = evaluator
        self.progress = progress
        self._next = math.inf

    def _schedule_next(self) -> None:
        """The next checkpoint: at the first evaluation from the next multiple of ``checkpoint_freq`` on."""
        self._next = (self.num_timesteps // self.spec.checkpoint_freq + 1) * self.spec.checkpoint_freq

    def _on_training_start(self) -> None:
        self._schedule_next()

    def _on_step(self) -> bool:
        history = self.evaluator.history
        if self.num_timesteps >= self._next and history and history[-1]["timesteps"] == self.num_timesteps:
            save_checkpoint(self.spec.run_dir, self.model, self.spec, history, self.progress())
            self._schedule_next()
        return True
