"""Bandit metrics on known policies, the SB3 helpers, and PPO learning on the batched bandit."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv

from adpo_rl.envs import (
    CONTEXTUAL_BANDIT_ID,
    CONTINUOUS_BANDIT_ID,
    BanditMetricsCallback,
    action_regret,
    bandit_metrics,
    make_bandit_vec_env,
    make_scenario,
    regret,
    sb3_policy_probs,
    win_mass,
)

torch.set_num_threads(1)


def oracle_probs(env):
    problem = env.unwrapped.problem

    def probs(contexts):
        return np.eye(problem.n_arms)[problem.expected_rewards(contexts).argmax(1)]

    return probs


@pytest.mark.parametrize("n_arms", [2, 10])
def test_uniform_policy_has_win_mass_one_over_n_arms(n_arms):
    env = gym.make(CONTEXTUAL_BANDIT_ID, n_arms=n_arms)

    def uniform(contexts):
        return np.full((len(contexts), n_arms), 1 / n_arms)

    assert win_mass(uniform, env, n_contexts=500) == pytest.approx(1 / n_arms)
    problem = env.unwrapped.problem
    expected = problem.expected_rewards(problem.sample_contexts(np.random.default_rng(0), 500))
    assert regret(uniform, env, n_contexts=500) == pytest.approx((expected.max(1) - expected.mean(1)).mean(), rel=1e-5)


@pytest.mark.parametrize("scenario", ["none", "shift-high"])
def test_oracle_policy_has_win_mass_one_and_no_regret(scenario):
    env = make_scenario(scenario, eval_mode=True)
    assert win_mass(oracle_probs(env), env) == pytest.approx(1.0)
    assert regret(oracle_probs(env), env) == pytest.approx(0.0, abs=1e-7)


def test_worst_arm_policy_and_metric_contexts_follow_eval_mode():
    env = gym.make(CONTEXTUAL_BANDIT_ID)
    problem = env.unwrapped.problem

    def worst(contexts):
        return np.eye(problem.n_arms)[problem.expected_rewards(contexts).argmin(1)]

    assert win_mass(worst, env) == 0.0
    assert regret(worst, env) > 2.0
    # A policy tuned to the nominal contexts' best arms loses win mass on the shifted evaluation contexts.
    train, shifted = make_scenario("shift-high"), make_scenario("shift-high", eval_mode=True)
    nominal_best = np.bincount(oracle_probs(train)(problem.sample_contexts(np.random.default_rng(1), 5000)).argmax(1))
    favourite = int(nominal_best.argmax())

    def always_favourite(contexts):
        return np.eye(problem.n_arms)[np.full(len(contexts), favourite)]

    assert win_mass(always_favourite, train) != pytest.approx(win_mass(always_favourite, shifted), abs=0.02)


def test_metrics_accept_every_kind_of_bandit_env():
    def uniform(contexts):
        return np.full((len(contexts), 10), 0.1)

    envs = [
        gym.make(CONTEXTUAL_BANDIT_ID),
        gym.make_vec(CONTEXTUAL_BANDIT_ID, num_envs=2, vectorization_mode="vector_entry_point"),
        make_bandit_vec_env(CONTEXTUAL_BANDIT_ID, n_envs=2),
        DummyVecEnv([lambda: gym.make(CONTEXTUAL_BANDIT_ID)]),
    ]
    values = [regret(uniform, env, n_contexts=100) for env in envs]
    assert values == pytest.approx([values[0]] * len(envs))
    with pytest.raises(ValueError, match="not an adpo_rl bandit"):
        win_mass(uniform, gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match=r"shaped \(100, 10\)"):
        win_mass(lambda c: np.ones((len(c), 3)) / 3, envs[0], n_contexts=100)


def test_sb3_policy_probs_are_the_policy_distribution():
    model = PPO("MlpPolicy", make_bandit_vec_env(CONTEXTUAL_BANDIT_ID, n_envs=2, seed=0), seed=0, device="cpu")
    contexts = np.random.default_rng(0).uniform(-1, 1, size=(7, 16)).astype(np.float32)
    probs = sb3_policy_probs(model)(contexts)
    assert probs.shape == (7, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    with torch.no_grad():
        log_prob = model.policy.evaluate_actions(torch.as_tensor(contexts), torch.zeros(7))[1].numpy()
    np.testing.assert_allclose(np.log(probs[:, 0]), log_prob, rtol=1e-5)
    assert model.policy.training  # evaluation leaves the training mode as it was


def test_ppo_learns_the_contextual_bandit_and_callback_logs_metrics(tmp_path):
    env = make_bandit_vec_env(CONTEXTUAL_BANDIT_ID, n_envs=16, seed=0)
    callback = BanditMetricsCallback(make_scenario("none", eval_mode=True), eval_freq=2048, n_contexts=1000)
    model = PPO(
        "MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=4, learning_rate=3e-3, gamma=0.0,
        policy_kwargs={"net_arch": [64]}, seed=0, device="cpu",
    )  # fmt: skip
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(8192, callback=callback)
    steps = [t for t, _ in callback.evaluations]
    assert steps == [0, 2048, 4096, 6144, 8192]
    first, last = callback.evaluations[0][1], callback.evaluations[-1][1]
    assert first["win_mass"] == pytest.approx(0.1, abs=0.03)
    assert last["win_mass"] > 0.5  # five times chance
    assert last["regret"] < first["regret"] / 3
    assert last == bandit_metrics(model, callback.eval_env, n_contexts=1000)
    log = (tmp_path / "progress.csv").read_text()
    assert "eval/win_mass" in log and "eval/regret" in log and "rollout/ep_rew_mean" in log


def test_continuous_regret_of_deterministic_policy():
    env = gym.make(CONTINUOUS_BANDIT_ID)
    problem = env.unwrapped.problem
    assert action_regret(problem.optimal_actions, env) == pytest.approx(0.0, abs=1e-6)
    assert action_regret(lambda c: np.zeros((len(c), 2)), env) > 0.05
    model = SAC("MlpPolicy", make_bandit_vec_env(CONTINUOUS_BANDIT_ID, n_envs=2, seed=0), seed=0, device="cpu")
    metrics = bandit_metrics(model, env, n_contexts=200)
    assert set(metrics) == {"regret"} and metrics["regret"] > 0
    with pytest.raises(ValueError, match="discrete bandit"):
        win_mass(lambda c: c, env)
