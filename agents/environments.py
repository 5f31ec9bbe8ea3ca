"""Environment names the zoo accepts (gymnasium ids and bandit scenario names) and how to build them."""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

BANDIT_NAMESPACE = "adpo_rl/"
NOISE_SEPARATOR = "+"
"""Separates a control env from a reward noise in a name: ``CartPole-v1+cauchy-medium``."""
# Environments with tuned entries in agents/hyperparams, listed first in error messages.
BENCHMARK_ENVS = (
    "CartPole-v1",
    "Acrobot-v1",
    "LunarLander-v3",
    "Pendulum-v1",
    "LunarLanderContinuous-v3",
    "HalfCheetah-v5",
    "Hopper-v5",
)


class UnknownEnvironmentError(ValueError):
    """Raised for a name that is neither a registered gymnasium id nor a bandit scenario."""


@dataclass(frozen=True)
class EnvSpec:
    """
    A resolved environment name.

    :param name: the name as the user gave it (a gymnasium id or a bandit scenario name)
    :param env_id: the gymnasium id it builds
    :param env_kwargs: constructor arguments implied by the name (a scenario's noise model)
    :param is_bandit: whether it is one of the adpo_rl bandits (one-step episodes, win-mass metrics)
    :param reward_noise: ``(noise, severity)`` added to the training rewards by
        :class:`~adpo_rl.envs.wrappers.NoisyReward` (names like ``CartPole-v1+cauchy-medium``); evaluation
        returns stay clean. None for no noise.
    """

    name: str
    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    is_bandit: bool = False
    reward_noise: tuple[str, str] | None = None

    @property
    def folder_name(self) -> str:
        """The name as one path component: ``adpo_rl/ContextualBandit-v0`` -> ``adpo_rl_ContextualBandit-v0``."""
        return env_folder_name(self.name)

    @property
    def reward_threshold(self) -> float | None:
        """The gymnasium spec's ``reward_threshold`` (None where the env has none)."""
        return gym.spec(self.env_id).reward_threshold


def env_folder_name(name: str) -> str:
    """
    :param name: an environment name
    :return: the name with every character outside ``[A-Za-z0-9._-]`` replaced by ``_``
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def bandit_scenarios() -> tuple[str, ...]:
    """The bandit scenario names (``none``, ``gaussian-low``, ...), empty while the suite is not installed."""
    try:
        from adpo_rl.envs import SCENARIOS
    except ImportError:
        return ()
    return tuple(SCENARIOS)


def _registered_ids() -> list[str]:
    with contextlib.suppress(ImportError):
        import adpo_rl.envs  # noqa: F401  (importing the suite registers the adpo_rl/ ids)
    return sorted(gym.registry)


def valid_env_names() -> list[str]:
    """Every accepted name: bandit scenarios, adpo_rl ids, the benchmark envs, then all other gymnasium ids."""
    ids = _registered_ids()
    ours = [env_id for env_id in ids if env_id.startswith(BANDIT_NAMESPACE)]
    first = [*bandit_scenarios(), *ours, *BENCHMARK_ENVS]
    return first + [env_id for env_id in ids if env_id not in first]


def reward_noise_names() -> tuple[str, ...]:
    """The ``noise-severity`` suffixes a control env accepts (``gaussian-low`` ... ``flip-high``)."""
    from adpo_rl.envs.noise import NOISES, SEVERITIES

    return tuple(f"{noise}-{severity}" for noise in NOISES if noise not in ("none", "shift") for severity in SEVERITIES)


def _resolve_noisy(name: str) -> EnvSpec:
    base, suffix = name.rsplit(NOISE_SEPARATOR, 1)
    valid = reward_noise_names()
    if suffix not in valid:
        raise UnknownEnvironmentError(
            f"unknown reward noise {suffix!r} in {name!r}; valid suffixes after {NOISE_SEPARATOR!r}: {', '.join(valid)}"
        )
    spec = resolve_env(base)
    if spec.reward_noise is not None:
        raise UnknownEnvironmentError(f"{name!r}: one reward noise per env, got two")
    if spec.is_bandit:
        raise UnknownEnvironmentError(
            f"{name!r}: reward noise applies to control envs only; the bandits carry their own noise, "
            f"pick a bandit scenario instead ({', '.join(bandit_scenarios())})"
        )
    noise, severity = suffix.split("-", 1)
    return EnvSpec(name, spec.env_id, dict(spec.env_kwargs), reward_noise=(noise, severity))


def resolve_env(name: str) -> EnvSpec:
    """
    :param name: a gymnasium id (``CartPole-v1``, ``adpo_rl/ContextualBandit-v0``), a bandit scenario name, or a
        control env with a reward noise, ``<gymnasium id>+<noise>-<severity>`` (``Pendulum-v1+cauchy-medium``)
    :return: the resolved environment
    :raises UnknownEnvironmentError: naming close matches and the main valid names
    """
    if NOISE_SEPARATOR in name:
        return _resolve_noisy(name)
    if name in bandit_scenarios():
        from adpo_rl.envs import scenario_env_kwargs

        env_id, env_kwargs = scenario_env_kwargs(name)
        return EnvSpec(name, env_id, dict(env_kwargs), is_bandit=True)
    if name in _registered_ids():
        return EnvSpec(name, name, {}, is_bandit=name.startswith(BANDIT_NAMESPACE))
    valid = valid_env_names()
    close = difflib.get_close_matches(name, valid, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    main = [*bandit_scenarios(), *[v for v in valid if v.startswith(BANDIT_NAMESPACE)], *BENCHMARK_ENVS]
    raise UnknownEnvironmentError(
        f"unknown environment {name!r}.{hint} Valid names: {', '.join(main)}, "
        f"or any registered gymnasium id ({len(valid)} in all; see gymnasium.pprint_registry()), "
        f"optionally with a reward noise: CartPole-v1{NOISE_SEPARATOR}cauchy-medium."
    )


def make_env(
    env: str | EnvSpec,
    n_envs: int = 1,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    normalize: dict[str, Any] | None = None,
    evaluation: bool = False,
) -> VecEnv:
    """
    Build the vectorised environment an SB3 model trains (or is evaluated) on.

    Bandits use the suite's natively batched VecEnv; other ids use SB3's ``make_vec_env`` (Monitor-wrapped
    ``DummyVecEnv``). A spec with ``reward_noise`` wraps each training copy in
    :class:`~adpo_rl.envs.wrappers.NoisyReward` outside its Monitor, so the agent learns from noisy rewards while
    episode statistics (and evaluation, which gets no noise) report the clean return.

    :param env: an environment name or a resolved :class:`EnvSpec`
    :param n_envs: number of copies
    :param seed: seed of the first copy (copy i gets ``seed + i``)
    :param env_kwargs: constructor arguments, over those implied by the name
    :param normalize: ``VecNormalize`` arguments, or None for no normalisation; for evaluation the
        statistics are frozen and rewards left raw (copy the training statistics in before evaluating)
    :param evaluation: build the evaluation variant (bandits: the held-out / shifted context distribution)
    :return: the vectorised environment
    """
    spec = resolve_env(env) if isinstance(env, str) else env
    kwargs = {**spec.env_kwargs, **(env_kwargs or {})}
    if spec.is_bandit:
        from adpo_rl.envs import make_bandit_vec_env

        if evaluation:
            kwargs = {**kwargs, **bandit_eval_kwargs()}
        vec_env: VecEnv = make_bandit_vec_env(spec.env_id, n_envs=n_envs, seed=seed, **kwargs)
    else:
        wrapper_class, wrapper_kwargs = None, None
        if spec.reward_noise is not None and not evaluation:
            from adpo_rl.envs.wrappers import NoisyReward

            wrapper_class = NoisyReward
            wrapper_kwargs = {"noise": spec.reward_noise[0], "severity": spec.reward_noise[1]}
        vec_env = make_vec_env(
            spec.env_id,
            n_envs=n_envs,
            seed=seed,
            env_kwargs=kwargs,
            wrapper_class=wrapper_class,
            wrapper_kwargs=wrapper_kwargs,
        )
    if normalize is not None:
        if evaluation:
            normalize = {**normalize, "training": False, "norm_reward": False}
        vec_env = VecNormalize(vec_env, **normalize)
    return vec_env


def bandit_eval_kwargs() -> dict[str, Any]:
    """Constructor arguments that switch a bandit to its evaluation contexts (shifted for ``shift-*``)."""
    return {"eval_mode": True}
