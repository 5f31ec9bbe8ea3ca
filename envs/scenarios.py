"""
The 13 named scenarios of the benchmark: ``none`` and ``<noise>-<severity>`` for the four noises and three severities.

Each maps to the ``gym.make`` keyword arguments of ``adpo_rl/ContextualBandit-v0``; the table of what the noises and
severities mean is in :mod:`adpo_rl.envs.noise` and docs/SCENARIOS.md.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from adpo_rl.envs.noise import SEVERITIES
from adpo_rl.envs.registration import CONTEXTUAL_BANDIT_ID, ENV_IDS

SCENARIO_NOISES: tuple[str, ...] = ("gaussian", "cauchy", "flip", "shift")
"""The noises of the 12 noisy scenarios."""

SCENARIOS: dict[str, dict[str, Any]] = {"none": {"noise": "none"}} | {
    f"{noise}-{severity}": {"noise": noise, "severity": severity} for noise in SCENARIO_NOISES for severity in SEVERITIES
}
"""Scenario name -> ``gym.make`` keyword arguments of ``adpo_rl/ContextualBandit-v0``."""


def scenario_env_kwargs(name: str) -> tuple[str, dict[str, Any]]:
    """
    Env id and keyword arguments of a scenario.

    :param name: a key of :data:`SCENARIOS`, e.g. ``"cauchy-high"``
    :return: ``(env_id, kwargs)``, the kwargs a fresh dict
    :raises ValueError: on an unknown name, listing the valid ones
    """
    if name not in SCENARIOS:
        raise ValueError(f"Unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}")
    return CONTEXTUAL_BANDIT_ID, dict(SCENARIOS[name])


def make_scenario(name: str, **overrides: Any) -> gym.Env:
    """
    ``gym.make`` a scenario.

    :param name: a key of :data:`SCENARIOS`
    :param overrides: env keyword arguments that replace or extend the scenario's (e.g. ``eval_mode=True``)
    :return: the env
    :raises ValueError: on an unknown name, listing the valid ones
    """
    env_id, kwargs = scenario_env_kwargs(name)
    return gym.make(env_id, **(kwargs | overrides))


def resolve_env(env_id_or_scenario: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """
    Env id and keyword arguments for a bandit id or a scenario name.

    :param env_id_or_scenario: ``adpo_rl/ContextualBandit-v0``, ``adpo_rl/ContinuousBandit-v0`` or a scenario name
    :param overrides: keyword arguments added on top
    :return: ``(env_id, kwargs)``
    :raises ValueError: when it is neither, listing both kinds of valid names
    """
    if env_id_or_scenario in SCENARIOS:
        env_id, kwargs = scenario_env_kwargs(env_id_or_scenario)
        return env_id, kwargs | overrides
    if env_id_or_scenario in ENV_IDS:
        return env_id_or_scenario, dict(overrides)
    raise ValueError(
        f"Unknown bandit id or scenario {env_id_or_scenario!r}; valid ids: {', '.join(ENV_IDS)}; "
        f"valid scenarios: {', '.join(SCENARIOS)}"
    )
