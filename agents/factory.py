"""``make_model``: a ready SB3 model for any (algorithm, environment) of the zoo."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from adpo_rl.agents.config import AgentConfig, get_agent_config
from adpo_rl.agents.environments import EnvSpec, make_env, resolve_env
from adpo_rl.agents.registry import ALGOS, AlgoSpec, get_algo_spec

__all__ = ["ALGOS", "get_config", "make_env", "make_model"]


def get_config(
    algo: str | AlgoSpec,
    env: str | EnvSpec,
    *,
    n_envs: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> AgentConfig:
    """
    :param algo: algorithm name or registry entry
    :param env: environment name or resolved spec
    :param n_envs: number of copies, over the yml entry
    :param overrides: hyperparameters over the yml entry and the algorithm's preset
    :return: the merged configuration :func:`make_model` builds from
    """
    algo_spec = get_algo_spec(algo) if isinstance(algo, str) else algo
    env_spec = resolve_env(env) if isinstance(env, str) else env
    return get_agent_config(
        algo_spec.name,
        env_spec.name,
        env_id=env_spec.env_id,
        is_bandit=env_spec.is_bandit,
        preset=algo_spec.preset,
        n_envs=n_envs,
        overrides=overrides,
    )


def make_model(
    algo: str,
    env_id: str,
    *,
    seed: int,
    device: str = "auto",
    tensorboard_log: str | None = None,
    n_envs: int | None = None,
    overrides: dict[str, Any] | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """
    Build an algorithm of the zoo on its (vectorised, optionally normalised) training environment.

    Hyperparameters come from ``agents/hyperparams/<algo>.yml`` (see :func:`get_config`).

    :param algo: one of :data:`ALGOS` (``adpo``, ``dpo``, ``grpo``, ``ppo``, ``sac``)
    :param env_id: a gymnasium id or a bandit scenario name
    :param seed: seed of the model and of the environment copies
    :param device: ``auto``, ``cpu`` or ``cuda``
    :param tensorboard_log: TensorBoard folder passed to the SB3 constructor (SB3 adds a ``<ALGO>_<n>`` subfolder)
    :param n_envs: number of environment copies, over the yml entry
    :param overrides: hyperparameters over the yml entry
    :param verbose: SB3 verbosity
    :return: the model; ``model.get_env()`` is its training environment
    :raises UnknownAlgorithmError, UnknownEnvironmentError: naming the valid choices
    :raises UnsupportedActionSpaceError: e.g. ``sac supports only Box action spaces; CartPole-v1 has Discrete(2)``
    """
    algo_spec = get_algo_spec(algo)
    env_spec = resolve_env(env_id)
    config = get_config(algo_spec, env_spec, n_envs=n_envs, overrides=overrides)
    env = make_env(env_spec, config.n_envs, seed=seed, env_kwargs=config.env_kwargs, normalize=config.vec_normalize)
    try:
        algo_spec.check_action_space(env_spec.name, env.action_space)
        return build_model(algo_spec, config, env, seed=seed, device=device, tensorboard_log=tensorboard_log, verbose=verbose)
    except BaseException:
        env.close()
        raise


def build_model(
    algo_spec: AlgoSpec,
    config: AgentConfig,
    env: VecEnv,
    *,
    seed: int,
    device: str = "auto",
    tensorboard_log: str | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """
    :param algo_spec: the algorithm's registry entry
    :param config: its configuration for this environment
    :param env: the training environment
    :param seed: model seed
    :param device: torch device
    :param tensorboard_log: TensorBoard folder, or None
    :param verbose: SB3 verbosity
    :return: the model
    """
    algo_class = algo_spec.load_class()
    return algo_class(
        config.policy,
        env,
        seed=seed,
        device=device,
        tensorboard_log=tensorboard_log,
        verbose=verbose,
        **config.algo_kwargs,
    )
