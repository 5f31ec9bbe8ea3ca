"""Gymnasium ids of the suite, under the namespace ``adpo_rl/``; registering is idempotent."""

from __future__ import annotations

import gymnasium as gym

CONTEXTUAL_BANDIT_ID = "adpo_rl/ContextualBandit-v0"
CONTINUOUS_BANDIT_ID = "adpo_rl/ContinuousBandit-v0"

ENV_IDS: tuple[str, ...] = (CONTEXTUAL_BANDIT_ID, CONTINUOUS_BANDIT_ID)
"""Every id the suite registers."""

_ENTRY_POINTS: dict[str, tuple[str, str]] = {
    CONTEXTUAL_BANDIT_ID: ("adpo_rl.envs.bandits:ContextualBandit", "adpo_rl.envs.vector:ContextualBanditVectorEnv"),
    CONTINUOUS_BANDIT_ID: ("adpo_rl.envs.bandits:ContinuousBandit", "adpo_rl.envs.vector:ContinuousBanditVectorEnv"),
}


def register_envs() -> None:
    """
    Register the suite's ids with gymnasium (a no-op for ids already registered).

    The bandits end every episode after one step by termination, so no ``max_episode_steps`` applies, and their
    noisy rewards have no meaningful ``reward_threshold``.
    """
    for env_id, (entry_point, vector_entry_point) in _ENTRY_POINTS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)
