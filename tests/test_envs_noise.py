"""Noise models: documented statistics, and clear errors for unknown names."""

import math

import numpy as np
import pytest

from adpo_rl.envs import NOISES, SEVERITIES, SEVERITY_PARAMS, ContextualBandit, make_noise

N_SAMPLES = 200_000


def noise_samples(noise: str, severity: str, n: int = N_SAMPLES) -> np.ndarray:
    model = make_noise(noise, severity)
    return model.perturb(np.zeros((n, 1), dtype=np.float64), np.random.default_rng(0))[:, 0]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_gaussian_matches_documented_mixture(severity):
    params = SEVERITY_PARAMS["gaussian"][severity]
    sigma, p, s = params["sigma"], params["outlier_prob"], params["outlier_scale"]
    eps = noise_samples("gaussian", severity)
    assert abs(eps.std() - math.sqrt((1 - p) * sigma**2 + p * s**2)) < 0.03 * math.sqrt((1 - p) * sigma**2 + p * s**2)
    # P(|eps| < sigma) of the mixture: inliers within one sigma, plus the few outliers that land there.
    within = (1 - p) * math.erf(1 / math.sqrt(2)) + p * math.erf(sigma / s / math.sqrt(2))
    assert abs(np.mean(np.abs(eps) < sigma) - within) < 0.01
    # Outliers: far more mass beyond 4 sigma than a Gaussian (6e-5).
    assert np.mean(np.abs(eps) > 4 * sigma) > 0.5 * p


@pytest.mark.parametrize("severity", SEVERITIES)
def test_cauchy_is_heavy_tailed(severity):
    scale = SEVERITY_PARAMS["cauchy"][severity]["scale"]
    eps = noise_samples("cauchy", severity)
    tail = np.mean(np.abs(eps) > 10 * scale)
    assert abs(tail - 2 / math.pi * math.atan(1 / 10)) < 0.005  # 0.0635 for a Cauchy
    gaussian_tail = np.mean(np.abs(np.random.default_rng(1).normal(0, scale, N_SAMPLES)) > 10 * scale)
    assert gaussian_tail == 0.0
    assert abs(np.median(np.abs(eps)) - scale) < 0.02 * scale  # median |C| = scale


@pytest.mark.parametrize("severity", SEVERITIES)
def test_flip_inverts_whole_groups_at_the_documented_rate(severity):
    prob = SEVERITY_PARAMS["flip"][severity]["prob"]
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(50_000, 5))
    low, high = rewards.min(axis=1, keepdims=True), rewards.max(axis=1, keepdims=True)
    noisy = make_noise("flip", severity).perturb(rewards, rng, low, high)
    flipped = ~np.isclose(noisy, rewards).all(axis=1)
    assert abs(flipped.mean() - prob) < 0.01
    np.testing.assert_allclose(noisy[flipped], (low + high - rewards)[flipped])
    # A flipped group is ranked in exactly the reverse order.
    assert (np.argsort(noisy[flipped], axis=1) == np.argsort(rewards[flipped], axis=1)[:, ::-1]).all()


def test_flip_without_range_negates():
    rewards = np.ones((10_000, 1))
    noisy = make_noise("flip", "high").perturb(rewards, np.random.default_rng(0))
    assert set(np.unique(noisy)) == {-1.0, 1.0}


@pytest.mark.parametrize("noise", ["none", "shift"])
def test_none_and_shift_leave_rewards_exact(noise):
    env = ContextualBandit(noise=noise, severity="high")
    env.reset(seed=0)
    for _ in range(50):
        _, info = env.reset()
        action = int(env.np_random.integers(env.action_space.n))
        _, reward, *_ = env.step(action)
        assert reward == float(info["expected_rewards"][action])
        np.testing.assert_array_equal(env.score_actions(np.arange(env.action_space.n)), info["expected_rewards"])


@pytest.mark.parametrize("severity", SEVERITIES)
def test_shift_moves_eval_context_mean_by_delta(severity):
    delta = SEVERITY_PARAMS["shift"][severity]["delta"]
    d = 16
    train = ContextualBandit(context_dim=d, noise="shift", severity=severity).problem
    evaluation = ContextualBandit(context_dim=d, noise="shift", severity=severity, eval_mode=True).problem
    rng = np.random.default_rng(0)
    train_mean = train.sample_contexts(rng, 50_000).mean(axis=0)
    eval_contexts = evaluation.sample_contexts(rng, 50_000)
    np.testing.assert_allclose(train_mean, 0.0, atol=0.03)
    np.testing.assert_allclose(eval_contexts.mean(axis=0), delta / math.sqrt(d), atol=0.03)
    assert abs(np.linalg.norm(eval_contexts.mean(axis=0)) - delta) < 0.05
    np.testing.assert_allclose(eval_contexts.std(axis=0), 1.0, atol=0.02)  # only the mean moves


@pytest.mark.parametrize("noise", ["gaussian", "cauchy", "flip", "none"])
def test_eval_mode_changes_contexts_only_under_shift(noise):
    train = ContextualBandit(noise=noise)
    evaluation = ContextualBandit(noise=noise, eval_mode=True)
    np.testing.assert_array_equal(train.reset(seed=3)[0], evaluation.reset(seed=3)[0])


def test_unknown_names_raise_with_valid_choices():
    with pytest.raises(ValueError, match=r"'laplace'.*'none', 'gaussian', 'cauchy', 'flip', 'shift'"):
        make_noise("laplace")
    with pytest.raises(ValueError, match=r"'extreme'.*'low', 'medium', 'high'"):
        make_noise("gaussian", "extreme")
    with pytest.raises(ValueError, match=r"'sd'.*'sigma'"):
        make_noise("gaussian", "low", {"sd": 1.0})
    with pytest.raises(ValueError, match="prob"):
        make_noise("flip", "low", {"prob": 1.5})


def test_noise_params_override_severity():
    eps = make_noise("gaussian", "low", {"sigma": 2.0, "outlier_prob": 0.0}).perturb(
        np.zeros((100_000, 1)), np.random.default_rng(0)
    )
    assert abs(eps.std() - 2.0) < 0.03


def test_every_noise_has_every_severity():
    assert set(SEVERITY_PARAMS) == set(NOISES)
    for noise in NOISES:
        assert set(SEVERITY_PARAMS[noise]) == set(SEVERITIES)
