"""Who scores a group of candidate actions: the critic (any env) or the environment's own group oracle (bandits)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

SCORERS = ("critic", "env")
ORACLE_METHOD = "score_actions"

GroupOracle = Callable[[np.ndarray], np.ndarray]
"""Maps candidate actions ``[N, K]`` (arms) or ``[N, K, m]`` (Box) of the N current contexts to rewards ``[N, K]``."""


def has_group_oracle(env: VecEnv) -> bool:
    """
    Whether every copy of a vectorised env exposes ``score_actions(actions)`` for its current context.

    :param env: the training env
    :return: True when the env (or the env under its wrappers) has the oracle
    """
    return callable(getattr(env, ORACLE_METHOD, None)) or env.has_attr(ORACLE_METHOD)


def env_group_oracle(env: VecEnv) -> GroupOracle:
    """
    The group oracle of a vectorised env: its batched ``score_actions`` when it has one (one call for all copies, e.g.
    ``adpo_rl.envs.BanditVecEnv``), else one ``env_method("score_actions", ...)`` call per copy (e.g. a ``DummyVecEnv``).

    :param env: the training env, checked with :func:`has_group_oracle`
    :return: a function from candidate actions ``[N, K, ...]`` to float rewards ``[N, K]``
    """
    batched = getattr(env, ORACLE_METHOD, None)
    if callable(batched):
        return lambda actions: np.asarray(batched(actions), dtype=np.float32)

    def per_copy(actions: np.ndarray) -> np.ndarray:
        rewards = [env.env_method(ORACLE_METHOD, actions[i], indices=[i])[0] for i in range(env.num_envs)]
        return np.asarray(rewards, dtype=np.float32)

    return per_copy
