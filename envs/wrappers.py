"""Reward noise for any gymnasium env (CartPole, LunarLander, Pendulum, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from adpo_rl.envs.noise import NOISES, make_noise

# Separates the noise stream from the env's own stream when both are seeded with the same integer.
_NOISE_STREAM = 0x4E4F495345


class NoisyReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """
    Add one of the paper's reward noises to any gymnasium env; observations, termination and truncation are untouched.

    Noises and severities as in :mod:`adpo_rl.envs.noise`, with two differences forced by the env being generic:
    ``flip`` reflects the reward about 0 (``r -> -r``), since no range of rewards over actions is known, and
    ``shift`` (a change of the context distribution) exists only on the bandits, so it is refused here.

    The noise comes from the wrapper's own generator, so the wrapped env's random stream, hence its observations,
    are exactly those of the unwrapped env. ``reset(seed=s)`` reseeds that generator from ``s``. ``info`` gains
    ``clean_reward``, the reward before noise.

    :param env: the env to wrap
    :param noise: ``none``, ``gaussian``, ``cauchy`` or ``flip``
    :param severity: ``low``, ``medium`` or ``high``
    :param noise_params: optional overrides of the severity's parameters
    :param seed: seed of the noise generator until the first seeded ``reset`` (``None``: fresh entropy)
    """

    def __init__(
        self,
        env: gym.Env,
        noise: str = "gaussian",
        severity: str = "medium",
        noise_params: Mapping[str, float] | None = None,
        seed: int | None = None,
    ) -> None:
        if noise == "shift":
            valid = ", ".join(repr(n) for n in NOISES if n != "shift")
            raise ValueError(
                "noise 'shift' changes the context distribution and exists only on the adpo_rl bandits; "
                f"valid noises for NoisyReward: {valid}"
            )
        gym.utils.RecordConstructorArgs.__init__(self, noise=noise, severity=severity, noise_params=noise_params, seed=seed)
        gym.Wrapper.__init__(self, env)
        self.noise = make_noise(noise, severity, noise_params)
        self._noise_rng = np.random.default_rng(None if seed is None else [seed, _NOISE_STREAM])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self._noise_rng = np.random.default_rng([seed, _NOISE_STREAM])
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        clean = float(reward)
        noisy = self.noise.perturb(np.array([[clean]], dtype=np.float64), self._noise_rng)[0, 0]
        return obs, float(noisy), terminated, truncated, {**info, "clean_reward": clean}
