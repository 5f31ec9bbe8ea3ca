"""What one benchmark invocation will run: validated (algorithm, env, seed) runs and their folders."""

from __future__ import annotations

import ast
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from checkpoints import find_checkpoint

from adpo_rl.agents import ALGOS, EnvSpec, get_algo_spec, get_config, make_env, resolve_env
from adpo_rl.agents.registry import UnsupportedActionSpaceError

RESULT_FILE = "result.json"
DEFAULT_CHECKPOINT_FREQ = 50_000
CHECKPOINT_HELP = (
    "environment steps between mid-run checkpoints (model, replay buffer, evaluations; written after an evaluation, "
    f"deleted when the run finishes) that a rerun continues a killed run from; 0 for none (default: {DEFAULT_CHECKPOINT_FREQ})"
)
EVAL_FILE = "eval.csv"
DEFAULT_EVAL_POINTS = 20


class UsageError(ValueError):
    """Bad command-line input (unknown algorithm or env, malformed override): the runner exits with code 2."""


@dataclass
class RunSpec:
    """
    One training run, as sent to a worker process (plain data, picklable).

    :param algo: algorithm name
    :param env: environment name as given (a gymnasium id or a bandit scenario)
    :param seed: seed of the model and of the training env (the evaluation env uses another)
    :param timesteps: training budget in environment steps
    :param run_dir: the run's folder, ``<log_dir>/<env>/<algo>/seed_<n>[_<k>]``
    :param overrides: hyperparameters over the yml entry
    :param n_envs: environment copies, or None for the yml entry's
    :param device: torch device
    :param eval_freq: environment steps between evaluations
    :param eval_episodes: episodes per evaluation
    :param torch_threads: torch intra-op threads for this run
    :param verbose: SB3 verbosity
    :param checkpoint_freq: environment steps between checkpoints (``<run_dir>/checkpoint/``, taken after an
        evaluation; a resumed run continues from its latest), or 0 for none
    """

    algo: str
    env: str
    seed: int
    timesteps: int
    run_dir: str
    overrides: dict[str, Any] = field(default_factory=dict)
    n_envs: int | None = None
    device: str = "auto"
    eval_freq: int = 1000
    eval_episodes: int = 10
    torch_threads: int = 1
    verbose: int = 0
    checkpoint_freq: int = 0

    @property
    def label(self) -> str:
        """``env/algo/folder`` for messages."""
        return f"{self.env}/{self.algo}/{Path(self.run_dir).name}"

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data."""
        return asdict(self)


@dataclass
class Rejected:
    """An (algorithm, env) pair that cannot run, with the reason (e.g. SAC on a Discrete env)."""

    algo: str
    env: str
    reason: str


def parse_literal(text: str) -> Any:
    """
    :param text: a hyperparameter value as typed on the command line
    :return: the Python literal it spells (``1e-3``, ``[64, 64]``, ``True``), else the string itself (``ema``)
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items: list[str], algos: list[str]) -> dict[str, dict[str, Any]]:
    """
    Parse ``--hp`` items: ``key=value`` applies to every algorithm, ``algo:key=value`` to one. Values are
    Python literals (``1e-3``, ``[64, 64]``, ``{'net_arch': [8]}``, ``True``); anything else is a string.

    :param items: the raw ``--hp`` items
    :param algos: the algorithms of this invocation
    :return: overrides per algorithm
    :raises UsageError: for an item without ``=`` or scoped to an unknown algorithm
    """
    per_algo: dict[str, dict[str, Any]] = {algo: {} for algo in algos}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--hp expects key=value (or algo:key=value), got {item!r}")
        scope, colon, key = key.rpartition(":")
        if colon and scope not in ALGOS:
            raise UsageError(f"--hp {item!r} is scoped to {scope!r}, which is not an algorithm; valid: {', '.join(ALGOS)}")
        # An item scoped to a known algorithm that is not being run is ignored, so one --hp set serves any --algo subset.
        targets = ([scope] if scope in per_algo else []) if colon else algos
        value = parse_literal(text)
        for algo in targets:
            per_algo[algo][key] = value
    return per_algo


def resolve_names(algos: list[str], envs: list[str]) -> tuple[list[str], list[EnvSpec]]:
    """
    :param algos: algorithm names from the command line
    :param envs: environment names from the command line
    :return: canonical algorithm names and resolved envs, duplicates dropped
    :raises UsageError: naming the valid choices
    """
    try:
        algo_names = list(dict.fromkeys(get_algo_spec(name).name for name in algos))
        env_specs = list({spec.name: spec for spec in (resolve_env(name) for name in envs)}.values())
    except ValueError as error:
        raise UsageError(str(error)) from error
    return algo_names, env_specs


def action_space_of(env: EnvSpec):
    """The action space of ``env`` (builds and closes one copy)."""
    vec_env = make_env(env, n_envs=1, seed=0)
    try:
        return vec_env.action_space
    finally:
        vec_env.close()


def plan_runs(
    algos: list[str],
    envs: list[EnvSpec],
    seeds: list[int],
    *,
    log_dir: Path,
    timesteps: int | None,
    overrides: dict[str, dict[str, Any]],
    run_options: dict[str, Any],
    eval_freq: int | None,
) -> tuple[list[RunSpec], list[Rejected]]:
    """
    Cross algorithms x envs x seeds; reject pairs whose action space does not fit (they are reported, the
    others still run).

    :param algos: canonical algorithm names
    :param envs: resolved environments
    :param seeds: seeds
    :param log_dir: root of the run folders
    :param timesteps: budget per run, or None for each yml entry's ``n_timesteps``
    :param overrides: hyperparameter overrides per algorithm
    :param run_options: further :class:`RunSpec` fields shared by all runs (n_envs, device, eval_episodes, ...)
    :param eval_freq: steps between evaluations, or None for ``DEFAULT_EVAL_POINTS`` evaluations per run
    :return: the runs (``run_dir`` not yet allocated) and the rejected pairs
    :raises UsageError: when a configuration cannot be built (e.g. a malformed override)
    """
    runs: list[RunSpec] = []
    rejected: list[Rejected] = []
    for env in envs:
        action_space = action_space_of(env)
        for algo in algos:
            try:
                ALGOS[algo].check_action_space(env.name, action_space)
            except UnsupportedActionSpaceError as error:
                rejected.append(Rejected(algo, env.name, str(error)))
                continue
            try:
                config = get_config(algo, env, n_envs=run_options.get("n_envs"), overrides=overrides[algo])
            except (ValueError, KeyError) as error:
                raise UsageError(f"{algo} on {env.name}: {error}") from error
            budget = timesteps if timesteps is not None else config.n_timesteps
            freq = eval_freq if eval_freq is not None else max(budget // DEFAULT_EVAL_POINTS, 1)
            run_dir = log_dir / env.folder_name / algo
            for seed in dict.fromkeys(seeds):
                runs.append(
                    RunSpec(
                        algo,
                        env.name,
                        seed,
                        budget,
                        str(run_dir / f"seed_{seed}"),
                        dict(overrides[algo]),
                        eval_freq=freq,
                        **run_options,
                    )
                )
    return runs, rejected


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """:return: the run's ``result.json``, or None where there is none or it is not valid JSON"""
    try:
        return json.loads((run_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None


def is_complete(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run (a ``result.json`` with status ``ok``)."""
    result = read_result(run_dir)
    return result is not None and result.get("status") == "ok"


def allocate_dirs(runs: list[RunSpec], mode: str) -> tuple[list[RunSpec], list[RunSpec]]:
    """
    Create each run's folder, never writing into an existing one unless asked.

    :param runs: planned runs; their ``run_dir`` is the preferred folder and may be changed
    :param mode: ``"new"``: an existing folder gets a suffixed sibling (``seed_0_1``, ``seed_0_2``, ...);
        ``"resume"``: finished runs are skipped, unfinished ones continued from their checkpoint (see
        ``checkpoints.py``) where they have one of the same configuration, else restarted in place;
        ``"overwrite"``: existing folders are deleted first
    :return: (runs to execute, runs skipped because already complete)
    """
    todo: list[RunSpec] = []
    skipped: list[RunSpec] = []
    for run in runs:
        path = Path(run.run_dir)
        if path.exists():
            if mode == "resume" and is_complete(path):
                skipped.append(run)
                continue
            if mode == "resume" and find_checkpoint(run) is not None:
                todo.append(run)
                continue
            if mode in ("resume", "overwrite"):
                shutil.rmtree(path)
            else:
                suffix = 1
                while path.with_name(f"{path.name}_{suffix}").exists():
                    suffix += 1
                path = path.with_name(f"{path.name}_{suffix}")
        path.mkdir(parents=True)
        run.run_dir = str(path)
        todo.append(run)
    return todo, skipped
