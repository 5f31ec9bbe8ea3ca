"""ADPO runs on a CUDA device (skipped where no GPU is present)."""

import pytest
import torch as th

from adpo_rl import ADPO


@pytest.mark.cuda
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_learn_on_cuda(env_id: str) -> None:
    model = ADPO("MlpPolicy", env_id, device="cuda", learning_starts=50, batch_size=64, seed=0)
    model.learn(300)
    assert model.device.type == "cuda"
    assert all(p.device.type == "cuda" for p in model.policy.parameters())
    assert model.policy.anchor.mu.weight.device.type == "cuda" if env_id == "Pendulum-v1" else True
