"""Single bandit envs: API checks, seeding, problem identity, group oracle, errors."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import adpo_rl  # noqa: F401  (registers the ids)
from adpo_rl.envs import CONTEXTUAL_BANDIT_ID, CONTINUOUS_BANDIT_ID, ENV_IDS, NOISES, register_envs

NOISY = [noise for noise in NOISES if noise != "none"]


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("noise", NOISES)
def test_env_checkers_pass(env_id, noise):
    env = gym.make(env_id, noise=noise, severity="high")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checkers' warnings count as failures
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)


@pytest.mark.parametrize("kwargs", [{"reward_model": "nonlinear"}, {"context_dim": 3, "n_arms": 2}])
def test_env_checkers_pass_on_variants(kwargs):
    env = gym.make(CONTEXTUAL_BANDIT_ID, noise="gaussian", **kwargs)
    gym_check_env(env.unwrapped)
    sb3_check_env(env.unwrapped)


def test_import_registers_ids_idempotently():
    register_envs()
    register_envs()
    for env_id in ENV_IDS:
        assert env_id in gym.registry
        assert gym.spec(env_id).vector_entry_point is not None


def rollout(env, seed, n=20):
    trajectory = []
    obs, _ = env.reset(seed=seed)
    for _ in range(n):
        action = env.action_space.sample()
        _, reward, terminated, truncated, _ = env.step(action)
        trajectory.append((obs.copy(), reward, terminated, truncated))
        obs, _ = env.reset()
    return trajectory


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("noise", NOISES)
def test_same_seed_same_trajectory(env_id, noise):
    runs = []
    for _ in range(2):
        env = gym.make(env_id, noise=noise)
        env.action_space.seed(0)
        runs.append(rollout(env, seed=5))
    for (o1, r1, *rest1), (o2, r2, *rest2) in zip(*runs, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2 and rest1 == rest2
    env = gym.make(env_id, noise=noise)
    env.action_space.seed(0)
    other = rollout(env, seed=6)
    assert not np.array_equal(other[0][0], runs[0][0][0])


def test_one_step_episodes_and_info():
    env = gym.make(CONTEXTUAL_BANDIT_ID)
    obs, info = env.reset(seed=0)
    assert obs.shape == (16,) and obs.dtype == np.float32
    assert env.action_space.n == 10
    assert info["expected_rewards"].shape == (10,)
    assert info["optimal_action"] == int(np.argmax(info["expected_rewards"]))
    obs2, reward, terminated, truncated, info2 = env.step(info["optimal_action"])
    assert terminated and not truncated
    np.testing.assert_array_equal(obs2, obs)  # the episode's context
    assert reward == pytest.approx(float(info["expected_rewards"].max()))
    np.testing.assert_array_equal(info2["expected_rewards"], info["expected_rewards"])


def test_problem_seed_fixes_the_problem_independently_of_episode_seed():
    contexts = np.random.default_rng(0).uniform(-1, 1, size=(64, 16)).astype(np.float32)

    def means(**kwargs):
        return gym.make(CONTEXTUAL_BANDIT_ID, **kwargs).unwrapped.problem.expected_rewards(contexts)

    np.testing.assert_array_equal(means(problem_seed=1), means(problem_seed=1))
    assert not np.allclose(means(problem_seed=1), means(problem_seed=2))
    np.testing.assert_array_equal(means(problem_seed=1), means(problem_seed=1, noise="cauchy", eval_mode=True))
    # Different episode seeds, same problem: the optimal arm of a context does not depend on the episode seed.
    a, b = gym.make(CONTEXTUAL_BANDIT_ID), gym.make(CONTEXTUAL_BANDIT_ID)
    a.reset(seed=1)
    b.reset(seed=2)
    assert a.unwrapped.problem.expected_rewards(contexts).argmax(1).tolist() == (
        b.unwrapped.problem.expected_rewards(contexts).argmax(1).tolist()
    )


@pytest.mark.parametrize("reward_model", ["linear", "nonlinear"])
def test_reward_models_have_unit_scale_and_every_arm_can_win(reward_model):
    problem = gym.make(CONTEXTUAL_BANDIT_ID, reward_model=reward_model).unwrapped.problem
    expected = problem.expected_rewards(problem.sample_contexts(np.random.default_rng(0), 20_000))
    assert 0.7 < expected.std() < 1.3
    assert np.bincount(expected.argmax(1), minlength=10).min() > 0


def test_nonlinear_differs_from_any_linear_model():
    problem = gym.make(CONTEXTUAL_BANDIT_ID, reward_model="nonlinear").unwrapped.problem
    x = problem.sample_contexts(np.random.default_rng(0), 5000).astype(np.float64)
    y = problem.expected_rewards(x.astype(np.float32)).astype(np.float64)
    design = np.c_[x, np.ones(len(x))]
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    assert residual.var() > 0.05 * y.var()


def test_score_actions_through_wrappers_does_not_advance():
    env = gym.make(CONTEXTUAL_BANDIT_ID, noise="gaussian", severity="low")
    obs, info = env.reset(seed=0)
    score = env.get_wrapper_attr("score_actions")
    scores = score(np.array([0, 3, 3, 9]))
    assert scores.shape == (4,) and scores.dtype == np.float32
    assert scores[1] != scores[2]  # fresh noise per candidate
    mean = np.mean([score(np.arange(10)) for _ in range(400)], axis=0)
    np.testing.assert_allclose(mean, info["expected_rewards"], atol=0.1)
    obs2, *_ = env.step(0)
    np.testing.assert_array_equal(obs2, obs)  # still the same episode


def test_score_actions_via_dummy_vec_env_env_method():
    venv = DummyVecEnv([lambda: gym.make(CONTEXTUAL_BANDIT_ID) for _ in range(2)])
    venv.seed(0)
    venv.reset()
    expected = venv.get_attr("problem", indices=[1])[0].expected_rewards(venv.buf_obs[None][1:2])[0]
    (scores,) = venv.env_method("score_actions", np.arange(10), indices=[1])
    np.testing.assert_array_equal(scores, expected)


def test_continuous_bandit_reward_peaks_at_optimum():
    env = gym.make(CONTINUOUS_BANDIT_ID)
    _, info = env.reset(seed=0)
    assert env.action_space.shape == (2,) and env.action_space.low.min() == -1 and env.action_space.high.max() == 1
    optimum = info["optimal_action"]
    assert np.all(np.abs(optimum) < 1)
    _, reward, terminated, _, step_info = env.step(optimum)
    assert terminated and reward == pytest.approx(1.0) and step_info["expected_reward"] == pytest.approx(1.0)
    candidates = np.stack([optimum, optimum + 0.1, np.clip(optimum + 0.5, -1, 1), -np.sign(optimum)])
    scores = env.get_wrapper_attr("score_actions")(candidates)
    assert scores.shape == (4,) and scores[0] == pytest.approx(1.0)
    assert np.all(np.diff(scores) < 0)  # farther from the optimum, lower reward
    # Out-of-box actions are clipped, not rejected.
    assert (
        env.get_wrapper_attr("score_actions")(np.array([[5.0, 5.0]]))[0]
        == env.get_wrapper_attr("score_actions")(np.array([[1.0, 1.0]]))[0]
    )


def test_continuous_flip_reflects_within_action_range():
    env = gym.make(CONTINUOUS_BANDIT_ID, noise="flip", noise_params={"prob": 1.0})
    _, info = env.reset(seed=0)
    corner = -np.sign(info["optimal_action"])  # the worst action in the box
    best, worst = env.get_wrapper_attr("score_actions")(np.stack([info["optimal_action"], corner]))
    assert best < worst  # ranking inverted
    clean = gym.make(CONTINUOUS_BANDIT_ID)
    clean.reset(seed=0)
    clean_best, clean_worst = clean.get_wrapper_attr("score_actions")(np.stack([info["optimal_action"], corner]))
    assert best == pytest.approx(clean_worst) and worst == pytest.approx(clean_best)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_arms": 1}, r"n_arms must be an integer >= 2, got 1"),
        ({"n_arms": 2.5}, r"n_arms must be an integer >= 2, got 2.5"),
        ({"context_dim": 0}, r"context_dim must be an integer >= 1, got 0"),
        ({"reward_model": "cubic"}, r"'cubic'.*'linear', 'nonlinear'"),
        ({"noise": "uniform"}, r"'uniform'.*'gaussian'"),
        ({"severity": "max"}, r"'max'.*'low', 'medium', 'high'"),
    ],
)
def test_user_errors_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(CONTEXTUAL_BANDIT_ID, **kwargs)


def test_invalid_actions_raise():
    env = gym.make(CONTEXTUAL_BANDIT_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        env.step(10)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        env.score_actions(np.array([0, -1]))
    with pytest.raises(ValueError, match=r"shaped \[K\]"):
        env.score_actions(np.zeros((2, 2), dtype=int))
    with pytest.raises(RuntimeError, match="reset"):
        gym.make(CONTEXTUAL_BANDIT_ID).unwrapped.score_actions(np.arange(3))
