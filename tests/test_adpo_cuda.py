"""ADPO runs on a CUDA device (skipped where no GPU is present); the bandit scorer's cuda run is in
test_adpo_env_scorer.py, beside the same test on the CPU."""

import numpy as np
import pytest
import torch as th

from adpo_rl import ADPO
from adpo_rl.anchors import ANCHOR_MODES


@pytest.mark.cuda
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_learn_on_cuda(env_id: str) -> None:
    model = ADPO("MlpPolicy", env_id, device="cuda", learning_starts=50, batch_size=64, seed=0)
    model.learn(300)
    assert model.device.type == "cuda"
    assert all(p.device.type == "cuda" for p in model.policy.parameters())
    assert model.policy.anchor.mu.weight.device.type == "cuda" if env_id == "Pendulum-v1" else True


@pytest.mark.cuda
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_cuda_model_loads_on_cpu_with_the_same_actions(env_id: str, tmp_path) -> None:
    model = ADPO("MlpPolicy", env_id, device="cuda", learning_starts=50, batch_size=64, seed=0)
    model.learn(300)
    model.observation_space.seed(1)
    obs = np.stack([model.observation_space.sample() for _ in range(16)])
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model.zip")
    on_cpu = ADPO.load(tmp_path / "model.zip", device="cpu")
    assert on_cpu.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in on_cpu.policy.parameters())
    np.testing.assert_allclose(on_cpu.predict(obs, deterministic=True)[0], actions, rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("anchor", ANCHOR_MODES)
def test_every_anchor_with_huber_critic_and_n_step_returns_trains_on_cuda(env_id: str, anchor: str) -> None:
    model = ADPO(
        "MlpPolicy",
        env_id,
        device="cuda",
        learning_starts=50,
        batch_size=32,
        group_size=8,
        n_steps=3,
        critic_loss="huber",
        anchor=anchor,
        adaptive_temperature=dict(a=0.5, b=0.5, t_min=0.1, t_max=5.0),
        seed=0,
    )
    model.learn(200)
    assert model._n_updates == 150
    assert all(th.isfinite(value).all() for value in model.policy.state_dict().values())
    assert {value.device.type for value in model.policy.state_dict().values()} == {"cuda"}
