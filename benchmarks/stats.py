"""Mean and 95% confidence intervals over seeds (Student t), for single values and for learning curves."""

from __future__ import annotations

import math

import numpy as np

# Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30 (no scipy dependency).
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_T_975_LARGE = ((40, 2.021), (60, 2.000), (120, 1.980))


def t_critical_975(df: int) -> float:
    """
    :param df: degrees of freedom (>= 1)
    :return: the two-sided 95% critical value of Student's t (conservative between tabulated values)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, not {df}")
    if df <= len(_T_975):
        return _T_975[df - 1]
    for bound, value in _T_975_LARGE:
        if df <= bound:
            return value
    return 1.960


def mean_ci(values: list[float]) -> tuple[float, float]:
    """
    :param values: one value per seed (non-finite values are dropped)
    :return: (mean, half-width of the 95% t confidence interval); the half-width is NaN with fewer than 2 values
    """
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, math.nan
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
    return mean, t_critical_975(len(finite) - 1) * std / math.sqrt(len(finite))


def curve_mean_ci(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Align learning curves (one per seed) on the union of their evaluation steps, up to the shortest curve's end,
    by linear interpolation.

    :param curves: (steps [T_i], values [T_i]) per seed, steps increasing
    :return: steps [T], mean [T], 95% half-width [T] (NaN for a single seed)
    """
    end = min(steps[-1] for steps, _ in curves)
    grid = np.unique(np.concatenate([steps[steps <= end] for steps, _ in curves]))
    values = np.stack([np.interp(grid, steps, vals) for steps, vals in curves])
    mean = values.mean(axis=0)
    if len(curves) < 2:
        return grid, mean, np.full_like(mean, np.nan)
    half = t_critical_975(len(curves) - 1) * values.std(axis=0, ddof=1) / math.sqrt(len(curves))
    return grid, mean, half
