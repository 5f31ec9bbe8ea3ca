"""A seed fixes an ADPO run: the same seed trains the same parameters, another seed does not."""

import numpy as np
import pytest
import torch as th

from adpo_rl import ADPO


def _train(env_id: str, seed: int, exploration_floor: float) -> tuple[np.ndarray, list[th.Tensor]]:
    model = ADPO(
        "MlpPolicy",
        env_id,
        exploration_floor=exploration_floor,
        learning_starts=100,
        batch_size=32,
        group_size=4,
        seed=seed,
    )
    model.learn(300)
    actions = model.replay_buffer.actions[:300].copy()
    return actions, [p.detach().clone() for p in model.policy.parameters()]


@pytest.mark.parametrize(
    "env_id, exploration_floor",
    [("CartPole-v1", 0.0), ("CartPole-v1", 0.3), ("Pendulum-v1", 0.0), ("Pendulum-v1", 0.3)],
)
def test_same_seed_trains_identically_and_another_seed_differs(env_id: str, exploration_floor: float) -> None:
    actions, params = _train(env_id, 7, exploration_floor)
    actions_again, params_again = _train(env_id, 7, exploration_floor)
    np.testing.assert_array_equal(actions, actions_again)
    for param, param_again in zip(params, params_again, strict=True):
        assert th.equal(param, param_again)

    other_actions, other_params = _train(env_id, 8, exploration_floor)
    assert not np.array_equal(actions, other_actions)
    assert not all(th.equal(p, q) for p, q in zip(params, other_params, strict=True))
