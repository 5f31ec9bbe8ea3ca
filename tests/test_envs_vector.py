"""Batched bandits: gymnasium vector env and SB3 VecEnv faces, matched against the single env step for step."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from adpo_rl.envs import (
    CONTEXTUAL_BANDIT_ID,
    CONTINUOUS_BANDIT_ID,
    ENV_IDS,
    NOISES,
    BanditVecEnv,
    ContextualBanditVectorEnv,
    make_bandit_vec_env,
)


def make_vec(env_id, num_envs, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def random_actions(env_id, rng, shape):
    if env_id == CONTEXTUAL_BANDIT_ID:
        return rng.integers(0, 10, size=shape)
    return rng.uniform(-1.2, 1.2, size=(*shape, 2)).astype(np.float32)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("noise", NOISES)
def test_vector_env_with_one_copy_reproduces_single_env_exactly(env_id, noise):
    single = gym.make(env_id, noise=noise, severity="high")
    vector = make_vec(env_id, 1, noise=noise, severity="high")
    obs, info = single.reset(seed=7)
    vobs, vinfo = vector.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(30):
        np.testing.assert_array_equal(vobs[0], obs)
        np.testing.assert_array_equal(vinfo["optimal_action"][0], info["optimal_action"])
        group = random_actions(env_id, rng, (1, 4))
        np.testing.assert_array_equal(vector.score_actions(group)[0], single.get_wrapper_attr("score_actions")(group[0]))
        action = random_actions(env_id, rng, (1,))
        _, reward, terminated, truncated, step_info = single.step(action[0])
        vobs, vreward, vterminated, vtruncated, vinfo = vector.step(action)
        assert vreward.dtype == np.float32 and vreward[0] == np.float32(reward)
        assert vterminated[0] == terminated and vtruncated[0] == truncated
        np.testing.assert_array_equal(vinfo["final_obs"][0], obs)
        for key, value in step_info.items():
            np.testing.assert_array_equal(vinfo["final_info"][key][0], value)
        obs, info = single.reset()


@pytest.mark.parametrize("noise", ["none", "gaussian"])
def test_every_copy_plays_the_single_env_problem(noise):
    n = 64
    single = gym.make(CONTEXTUAL_BANDIT_ID, noise=noise).unwrapped
    vector = make_vec(CONTEXTUAL_BANDIT_ID, n, noise=noise)
    obs, info = vector.reset(seed=0)
    rng = np.random.default_rng(0)
    rewards = []
    for _ in range(20):
        expected = single.problem.expected_rewards(obs)
        np.testing.assert_array_equal(info["expected_rewards"], expected)
        np.testing.assert_array_equal(info["optimal_action"], expected.argmax(1))
        actions = rng.integers(0, 10, size=n)
        next_obs, reward, terminated, truncated, info = vector.step(actions)
        assert terminated.all() and not truncated.any()
        np.testing.assert_array_equal(info["final_obs"], obs)
        np.testing.assert_array_equal(info["final_info"]["expected_rewards"], expected)
        rewards.append(reward - expected[np.arange(n), actions])
        assert not np.array_equal(next_obs, obs)  # new episodes, new contexts
        obs = next_obs
    if noise == "none":
        assert np.all(np.stack(rewards) == 0)
    else:
        assert 0.15 < np.median(np.abs(np.stack(rewards))) < 0.35  # medium: sigma 0.3, 5% outliers


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_vec_env_matches_gymnasium_vector_env(env_id):
    venv = make_bandit_vec_env(env_id, n_envs=8, seed=3, noise="cauchy")
    vector = make_vec(env_id, 8, noise="cauchy")
    assert isinstance(venv, VecEnv)
    obs = venv.reset()
    vobs, _ = vector.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(10):
        np.testing.assert_array_equal(obs, vobs)
        actions = random_actions(env_id, rng, (8,))
        next_obs, rewards, dones, infos = venv.step(actions)
        vobs, vrewards, _, _, vinfo = vector.step(actions)
        np.testing.assert_array_equal(rewards, vrewards)
        assert dones.all() and len(infos) == 8
        for i, info in enumerate(infos):
            np.testing.assert_array_equal(info["terminal_observation"], obs[i])
            assert info["TimeLimit.truncated"] is False
            np.testing.assert_array_equal(info["optimal_action"], vinfo["final_info"]["optimal_action"][i])
            assert info["episode"] == {"r": float(rewards[i]), "l": 1, "t": info["episode"]["t"]}
        obs = next_obs


def test_sb3_vec_env_infos_and_reset_infos():
    venv = make_bandit_vec_env("none", n_envs=4, seed=0)
    obs = venv.reset()
    assert [info["optimal_action"] for info in venv.reset_infos] == venv.problem.expected_rewards(obs).argmax(1).tolist()
    _, rewards, _, infos = venv.step(np.array([info["optimal_action"] for info in venv.reset_infos]))
    for info, reward in zip(infos, rewards, strict=True):
        assert reward == info["expected_rewards"].max()
    quiet = make_bandit_vec_env("none", n_envs=2, episode_stats=False)
    quiet.reset()
    assert "episode" not in quiet.step(np.zeros(2, dtype=int))[3][0]


def test_sb3_vec_env_seed_reproduces_and_differs():
    def first_obs(seed):
        venv = make_bandit_vec_env(CONTEXTUAL_BANDIT_ID, n_envs=4)
        venv.seed(seed)
        return venv.reset()

    np.testing.assert_array_equal(first_obs(1), first_obs(1))
    assert not np.array_equal(first_obs(1), first_obs(2))


def test_group_oracles_batched_and_per_copy():
    venv = make_bandit_vec_env(CONTEXTUAL_BANDIT_ID, n_envs=3, seed=0)
    obs = venv.reset()
    expected = venv.problem.expected_rewards(obs)
    groups = np.array([[0, 1, 2, 3], [9, 9, 8, 0], [5, 4, 3, 2]])
    batched = venv.score_actions(groups)  # noise none: exact
    assert batched.shape == (3, 4) and batched.dtype == np.float32
    np.testing.assert_array_equal(batched, np.take_along_axis(expected, groups, axis=1))
    (copy_one,) = venv.env_method("score_actions", groups[1], indices=[1])
    np.testing.assert_array_equal(copy_one, expected[1, groups[1]])
    # Scoring never advances the env.
    _, _, _, infos = venv.step(np.zeros(3, dtype=int))
    np.testing.assert_array_equal(np.stack([info["terminal_observation"] for info in infos]), obs)
    # Reachable through SB3 VecEnv wrappers.
    wrapped = VecNormalize(make_bandit_vec_env(CONTEXTUAL_BANDIT_ID, n_envs=3, seed=0), norm_reward=False)
    wrapped.reset()
    assert wrapped.score_actions(groups).shape == (3, 4)
    with pytest.raises(AttributeError, match="score_actions"):
        venv.env_method("reset")


def test_continuous_group_oracle_shapes():
    venv = make_bandit_vec_env(CONTINUOUS_BANDIT_ID, n_envs=5, seed=0, noise="gaussian", severity="low")
    venv.reset()
    groups = np.zeros((5, 6, 2), dtype=np.float32)
    assert venv.score_actions(groups).shape == (5, 6)
    assert venv.env_method("score_actions", groups[0], indices=[2])[0].shape == (6,)
    with pytest.raises(ValueError, match=r"\[5, K, 2\]"):
        venv.score_actions(groups[:, :, :1])


def test_invalid_vector_actions_raise():
    vector = make_vec(CONTEXTUAL_BANDIT_ID, 4)
    vector.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vector.step(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        vector.step(np.array([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="integers"):
        vector.step(np.zeros(4))


def test_make_bandit_vec_env_resolves_scenarios_and_rejects_unknown():
    venv = make_bandit_vec_env("shift-high", n_envs=2, eval_mode=True)
    assert isinstance(venv, BanditVecEnv) and venv.eval_mode
    assert isinstance(venv.vector_env, ContextualBanditVectorEnv)
    assert venv.problem.noise.name == "shift" and venv.problem.noise.severity == "high"
    with pytest.raises(ValueError, match=r"'CartPole-v1'.*adpo_rl/ContextualBandit-v0.*cauchy-high"):
        make_bandit_vec_env("CartPole-v1")
