"""ADPO's environment scorer: groups scored by the bandit's oracle, exact interaction counting, DPO/GRPO configurations."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnvWrapper

from adpo_rl import ADPO
from adpo_rl.envs import bandit_metrics, make_bandit_vec_env

BANDIT = "adpo_rl/ContextualBandit-v0"
FAST = dict(learning_starts=0, batch_size=64, buffer_size=5000, gradient_steps=4)


class _StepCounter(VecEnvWrapper):
    def __init__(self, venv) -> None:
        super().__init__(venv)
        self.steps = 0

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        self.steps += 1
        return self.venv.step_wait()


def _win_mass(model: ADPO, scenario: str = "none") -> float:
    eval_env = make_bandit_vec_env(scenario, n_envs=1, seed=100, eval_mode=True)
    return bandit_metrics(model, eval_env, n_contexts=1000)["win_mass"]


ON_CUDA = pytest.param(
    "cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA GPU")]
)


@pytest.mark.parametrize("device", ["cpu", ON_CUDA])
def test_env_scorer_learns_the_noiseless_bandit(device: str) -> None:
    env = make_bandit_vec_env("none", n_envs=16, seed=0)
    model = ADPO("MlpPolicy", env, scorer="env", temperature=2.0, seed=0, device=device, **FAST)
    assert _win_mass(model) < 0.3
    model.learn(40_000)
    assert _win_mass(model) >= 0.8


@pytest.mark.parametrize("whole_action_set, group_len", [(False, 4), (True, 10)])
def test_every_scored_candidate_is_one_timestep(whole_action_set: bool, group_len: int) -> None:
    env = _StepCounter(make_bandit_vec_env("none", n_envs=3, seed=0))
    group_size = 4 if not whole_action_set else 16
    model = ADPO("MlpPolicy", env, scorer="env", group_size=group_size, whole_action_set=whole_action_set, seed=0, **FAST)
    contexts = 7
    model.learn(3 * group_len * contexts)
    assert env.steps == contexts
    assert model.num_timesteps == 3 * group_len * contexts
    assert model.replay_buffer.size() == 3 * contexts
    assert model.replay_buffer.groups.shape[1] == group_len


def test_env_scorer_through_env_method_of_a_dummy_vec_env() -> None:
    env = make_vec_env(BANDIT, n_envs=2, seed=0, env_kwargs=dict(n_arms=5))
    model = ADPO("MlpPolicy", env, scorer="env", seed=0, **FAST)
    model.learn(5 * 2 * 20)
    assert model.num_timesteps == 200
    stored_scores = model.replay_buffer.scores[: model.replay_buffer.size()]
    assert np.all(np.isfinite(stored_scores)) and stored_scores.std() > 0


def test_env_scorer_on_the_continuous_bandit(tmp_path: Path) -> None:
    env = make_bandit_vec_env("adpo_rl/ContinuousBandit-v0", n_envs=8, seed=0)
    model = ADPO("MlpPolicy", env, scorer="env", group_size=8, seed=0, **FAST)
    before = bandit_metrics(model, make_bandit_vec_env("adpo_rl/ContinuousBandit-v0", n_envs=1, seed=9), n_contexts=500)
    model.learn(20_000)
    after = bandit_metrics(model, make_bandit_vec_env("adpo_rl/ContinuousBandit-v0", n_envs=1, seed=9), n_contexts=500)
    assert after["regret"] < 0.5 * before["regret"]

    model.save(tmp_path / "continuous")
    loaded = ADPO.load(tmp_path / "continuous", env=env)
    assert loaded.scorer == "env"
    obs = env.reset()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    loaded.learn(1000, reset_num_timesteps=False)


def test_env_scorer_needs_an_oracle() -> None:
    with pytest.raises(ValueError, match=r"scorer='env' needs an environment with a group oracle .*CartPole-v1 has none"):
        ADPO("MlpPolicy", "CartPole-v1", scorer="env")


def test_env_scorer_has_no_exploration_floor() -> None:
    env = make_bandit_vec_env("none", n_envs=2, seed=0)
    with pytest.raises(ValueError, match=r"exploration_floor needs scorer='critic'"):
        ADPO("MlpPolicy", env, scorer="env", exploration_floor=0.1)
    with pytest.raises(ValueError, match=r"exploration_floor needs scorer='critic'"):
        ADPO("MlpPolicy", env, scorer="env", exploration_floor=lambda _: 0.0)  # a schedule may switch it on later


def test_unknown_scorer() -> None:
    with pytest.raises(ValueError, match="Unknown scorer 'oracle'; valid choices are: 'critic', 'env'"):
        ADPO("MlpPolicy", "CartPole-v1", scorer="oracle")


def test_dpo_configuration_learns_the_noiseless_bandit() -> None:
    env = make_bandit_vec_env("none", n_envs=16, seed=0)
    dpo = ADPO(
        "MlpPolicy",
        env,
        scorer="env",
        loss="pairwise",
        target="hard",
        anchor="fixed",
        group_size=2,
        whole_action_set=False,
        seed=0,
        **FAST,
    )
    dpo.learn(20_000)
    assert _win_mass(dpo) >= 0.4  # 1/n_arms = 0.1 for a uniform policy


def test_grpo_configuration_learns_the_noiseless_bandit() -> None:
    env = make_bandit_vec_env("none", n_envs=16, seed=0)
    grpo = ADPO("MlpPolicy", env, scorer="env", loss="grpo", anchor="on_policy", seed=0, **FAST)
    grpo.learn(20_000)
    assert _win_mass(grpo) >= 0.4


def test_nan_scores_are_a_clear_error() -> None:
    class NanBandit(gym.Wrapper):
        def score_actions(self, actions):
            return np.full(len(actions), np.nan)

    env = make_vec_env(BANDIT, n_envs=1, seed=0, wrapper_class=NanBandit)
    model = ADPO("MlpPolicy", env, scorer="env", seed=0, **FAST)
    with pytest.raises(ValueError, match="non-finite scores"):
        model.learn(100)
    assert model.replay_buffer.size() == 0
