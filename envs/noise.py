"""
Reward-noise models of the ADPO paper, shared by the bandits and the :class:`~adpo_rl.envs.wrappers.NoisyReward` wrapper.

Each noise has three severities (``low`` / ``medium`` / ``high``) that map to the parameters in
:data:`SEVERITY_PARAMS`. What each noise does to a reward ``r``:

- ``none``: nothing, the reward is exact.
- ``gaussian`` (with outliers): ``r + eps``, ``eps ~ N(0, sigma^2)``; with probability ``outlier_prob`` the draw is
  an outlier, ``eps ~ N(0, outlier_scale^2)``.
- ``cauchy`` (heavy-tailed): ``r + scale * C``, ``C`` standard Cauchy (no mean, no variance).
- ``flip`` (adversarial rank flips): with probability ``prob`` the reward is reflected, ``r -> low + high - r``, which
  inverts the ranking of all actions for that draw (``low`` / ``high``: worst / best expected reward at the context;
  the :class:`~adpo_rl.envs.wrappers.NoisyReward` wrapper, which knows no such range, uses ``r -> -r``).
- ``shift`` (covariate shift): rewards exact; evaluation contexts (``eval_mode=True``) come from a shifted
  distribution, mean moved by ``delta`` (in units of the nominal per-coordinate std) along the diagonal
  ``(1, ..., 1) / sqrt(d)``, i.e. by ``delta / sqrt(d)`` per coordinate.

========  =================================================  ==============  ===========  =============
severity  gaussian (sigma, outlier_prob, outlier_scale)      cauchy (scale)  flip (prob)  shift (delta)
========  =================================================  ==============  ===========  =============
low       0.1, 0.01, 5                                       0.05            0.1          1.0
medium    0.3, 0.05, 10                                      0.2             0.25         2.0
high      1.0, 0.1, 20                                       0.5             0.4          3.0
========  =================================================  ==============  ===========  =============

The bandits' mean rewards have unit variance over contexts (the gap between the two best arms is typically a few
tenths), which sets the scale of these parameters.

Random draws are batched: :meth:`RewardNoise.perturb` takes rewards shaped ``[B, K]`` (``B`` contexts, ``K`` actions
scored at each) and draws all noise for them with one call per random quantity. ``flip`` draws one coin per context
(row), so a flipped group of ``K`` candidates has its whole ranking inverted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from adpo_rl.checks import check_choice

NOISES: tuple[str, ...] = ("none", "gaussian", "cauchy", "flip", "shift")
"""Valid noise names."""

SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
"""Valid severities."""

SEVERITY_PARAMS: dict[str, dict[str, dict[str, float]]] = {
    "none": {"low": {}, "medium": {}, "high": {}},
    "gaussian": {
        "low": {"sigma": 0.1, "outlier_prob": 0.01, "outlier_scale": 5.0},
        "medium": {"sigma": 0.3, "outlier_prob": 0.05, "outlier_scale": 10.0},
        "high": {"sigma": 1.0, "outlier_prob": 0.1, "outlier_scale": 20.0},
    },
    "cauchy": {"low": {"scale": 0.05}, "medium": {"scale": 0.2}, "high": {"scale": 0.5}},
    "flip": {"low": {"prob": 0.1}, "medium": {"prob": 0.25}, "high": {"prob": 0.4}},
    "shift": {"low": {"delta": 1.0}, "medium": {"delta": 2.0}, "high": {"delta": 3.0}},
}
"""Parameters of each (noise, severity) pair; see the module docstring for their meaning."""


@dataclass(frozen=True)
class RewardNoise:
    """
    One reward-noise model with its parameters.

    Build it with :func:`make_noise` (which validates the names) rather than directly.

    :param name: one of :data:`NOISES`
    :param severity: one of :data:`SEVERITIES` (kept for bookkeeping; the parameters decide)
    :param params: the parameters of the model (see :data:`SEVERITY_PARAMS`)
    """

    name: str
    severity: str
    params: Mapping[str, float] = field(default_factory=dict)

    @property
    def perturbs_rewards(self) -> bool:
        """Whether :meth:`perturb` changes rewards at all (``none`` and ``shift`` leave them exact)."""
        return self.name in ("gaussian", "cauchy", "flip")

    @property
    def context_shift(self) -> float:
        """Norm of the mean shift of the evaluation contexts (0 unless the noise is ``shift``)."""
        return float(self.params["delta"]) if self.name == "shift" else 0.0

    def perturb(
        self,
        rewards: np.ndarray,
        rng: np.random.Generator,
        low: np.ndarray | None = None,
        high: np.ndarray | None = None,
    ) -> np.ndarray:
        """
        Noisy version of ``rewards``.

        :param rewards: exact rewards, shape ``[B, K]`` (``B`` contexts, ``K`` scored actions each)
        :param rng: generator all random draws come from
        :param low: worst expected reward at each context, shape ``[B, 1]``; used by ``flip`` only
            (``None``: reflect about 0, i.e. ``r -> -r``)
        :param high: best expected reward at each context, shape ``[B, 1]``; used by ``flip`` only
        :return: noisy rewards, shape ``[B, K]``, same dtype as ``rewards`` (a new array)
        """
        if rewards.ndim != 2:
            raise ValueError(f"rewards must be shaped [B, K], got shape {rewards.shape}")
        dtype = rewards.dtype
        if self.name == "gaussian":
            z = rng.standard_normal(rewards.shape, dtype=np.float32)
            is_outlier = rng.random(rewards.shape) < self.params["outlier_prob"]
            scale = np.where(is_outlier, np.float32(self.params["outlier_scale"]), np.float32(self.params["sigma"]))
            return rewards + (z * scale).astype(dtype, copy=False)
        if self.name == "cauchy":
            c = rng.standard_cauchy(rewards.shape)
            return rewards + (self.params["scale"] * c).astype(dtype, copy=False)
        if self.name == "flip":
            flipped = rng.random((rewards.shape[0], 1)) < self.params["prob"]
            reflected = -rewards if low is None or high is None else (low + high) - rewards
            return np.where(flipped, reflected, rewards).astype(dtype, copy=False)
        return rewards.copy()


def make_noise(noise: str = "none", severity: str = "medium", params: Mapping[str, float] | None = None) -> RewardNoise:
    """
    Validated noise model.

    :param noise: one of :data:`NOISES`
    :param severity: one of :data:`SEVERITIES`
    :param params: optional overrides of the severity's parameters (keys must be those of the noise)
    :return: the noise model
    :raises ValueError: on an unknown noise, severity or parameter name, naming the valid ones
    """
    check_choice("noise", noise, NOISES)
    check_choice("severity", severity, SEVERITIES)
    merged = dict(SEVERITY_PARAMS[noise][severity])
    for key, value in (params or {}).items():
        if key not in merged:
            valid = ", ".join(repr(k) for k in merged) or "none"
            raise ValueError(f"Unknown parameter {key!r} for noise {noise!r}; valid parameters: {valid}")
        merged[key] = float(value)
    if noise == "flip" and not 0.0 <= merged["prob"] <= 1.0:
        raise ValueError(f"flip prob must be in [0, 1], got {merged['prob']}")
    if noise == "gaussian" and not 0.0 <= merged["outlier_prob"] <= 1.0:
        raise ValueError(f"gaussian outlier_prob must be in [0, 1], got {merged['outlier_prob']}")
    return RewardNoise(noise, severity, merged)
