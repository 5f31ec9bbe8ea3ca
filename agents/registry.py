"""The algorithms the agent zoo can build, and which action spaces each one supports."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm


class UnknownAlgorithmError(ValueError):
    """Raised for an algorithm name that is not in :data:`ALGOS`."""


class UnsupportedActionSpaceError(ValueError):
    """Raised when an algorithm cannot act in an environment's action space (e.g. SAC on ``Discrete``)."""


@dataclass(frozen=True)
class AlgoSpec:
    """
    How to build one algorithm of the zoo.

    :param name: the name used on the command line and in ``agents/hyperparams/<name>.yml``
    :param class_path: ``"module:ClassName"`` of the SB3 algorithm class, imported on first use
        so that the zoo works before every algorithm is installed
    :param action_spaces: the gymnasium action space types the algorithm can act in
    :param preset: constructor arguments that define the method (e.g. DPO = ADPO with pairwise loss,
        hard labels, fixed anchor); applied over the yml entry, under explicit user overrides
    """

    name: str
    class_path: str
    action_spaces: tuple[type[spaces.Space], ...]
    preset: dict[str, Any] = field(default_factory=dict)

    def load_class(self) -> type[BaseAlgorithm]:
        """Import and return the algorithm class."""
        module_name, class_name = self.class_path.split(":")
        return getattr(importlib.import_module(module_name), class_name)

    def check_action_space(self, env_name: str, action_space: spaces.Space) -> None:
        """
        :param env_name: the environment name, for the message
        :param action_space: the environment's action space
        :raises UnsupportedActionSpaceError: when the algorithm cannot act in ``action_space``
        """
        if not isinstance(action_space, self.action_spaces):
            supported = " and ".join(space.__name__ for space in self.action_spaces)
            raise UnsupportedActionSpaceError(
                f"{self.name} supports only {supported} action spaces; {env_name} has {action_space}"
            )


_DISCRETE_AND_BOX = (spaces.Discrete, spaces.Box)

ALGOS: dict[str, AlgoSpec] = {
    spec.name: spec
    for spec in (
        AlgoSpec("adpo", "adpo_rl:ADPO", _DISCRETE_AND_BOX),
        # DPO and GRPO are configurations of the ADPO machinery (ARCHITECTURE.md §4). DPO: one sampled pair per
        # context, winner by the higher (noisy) score, pairwise loss against the initial policy.
        AlgoSpec(
            "dpo",
            "adpo_rl:ADPO",
            _DISCRETE_AND_BOX,
            {"loss": "pairwise", "target": "hard", "anchor": "fixed", "group_size": 2, "whole_action_set": False},
        ),
        AlgoSpec("grpo", "adpo_rl:ADPO", _DISCRETE_AND_BOX, {"loss": "grpo", "anchor": "on_policy"}),
        AlgoSpec("ppo", "stable_baselines3:PPO", (spaces.Discrete, spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)),
        AlgoSpec("sac", "stable_baselines3:SAC", (spaces.Box,)),
    )
}


def get_algo_spec(name: str) -> AlgoSpec:
    """
    :param name: algorithm name (case-insensitive)
    :return: its registry entry
    :raises UnknownAlgorithmError: naming the valid algorithms
    """
    try:
        return ALGOS[name.lower()]
    except KeyError:
        raise UnknownAlgorithmError(f"unknown algorithm {name!r}; valid algorithms: {', '.join(ALGOS)}") from None
