"""SB3 conventions: TensorBoard tags, callbacks, progress bar, predict, get_distribution."""

from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from adpo_rl import ADPO

TRAIN_TAGS = [
    "train/actor_loss",
    "train/critic_loss",
    "train/anchor_kl",
    "train/anchor_updates",
    "train/target_entropy",
    "train/entropy",
    "train/temperature",
    "train/beta",
]


class _CountingCallback(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _on_step(self) -> bool:
        self.calls += 1
        return self.calls < 450  # stops training early, after two 200-step episodes


def test_tensorboard_tags_callbacks_and_progress_bar(tmp_path: Path) -> None:
    model = ADPO(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=20,
        batch_size=16,
        group_size=4,
        seed=0,
        tensorboard_log=str(tmp_path),
        policy_kwargs=dict(net_arch=[16]),
    )
    callback = _CountingCallback()
    model.learn(1000, callback=callback, progress_bar=True, log_interval=1)
    assert callback.calls == 450 and model.num_timesteps == 450

    run_dirs = list(tmp_path.glob("ADPO_*"))
    assert len(run_dirs) == 1
    events = EventAccumulator(str(run_dirs[0]))
    events.Reload()
    tags = events.Tags()["scalars"]
    for tag in TRAIN_TAGS:
        assert tag in tags, f"{tag} missing from TensorBoard ({tags})"
    assert all(np.isfinite(event.value) for tag in TRAIN_TAGS for event in events.Scalars(tag))


def test_predict_and_distribution_shapes() -> None:
    model = ADPO("MlpPolicy", "Pendulum-v1", seed=0)
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    actions, _ = model.predict(obs, deterministic=False)
    assert actions.shape == (5, 1)
    assert np.all(np.abs(actions) <= 2.0)  # rescaled to Pendulum's [-2, 2]
    deterministic, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(deterministic, model.predict(obs, deterministic=True)[0])

    cartpole = ADPO("MlpPolicy", "CartPole-v1", seed=0)
    obs_tensor = cartpole.policy.obs_to_tensor(np.zeros((3, 4), np.float32))[0]
    probs = cartpole.policy.get_distribution(obs_tensor).distribution.probs
    assert probs.shape == (3, 2)
    np.testing.assert_allclose(probs.sum(-1).detach().cpu().numpy(), 1.0, rtol=1e-6)
