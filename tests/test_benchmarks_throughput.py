"""benchmarks/throughput.py: the side-by-side steps/s table, and a clear error instead of silently timing the CPU."""

import sys
from pathlib import Path

import pytest
import torch as th
from stable_baselines3 import PPO

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import throughput
from train_one import cpu_model


def test_discrete_env_times_adpo_against_ppo(capsys) -> None:
    throughput.main(["--env", "CartPole-v1", "--group-sizes", "2", "--steps", "50", "--rounds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"CartPole-v1: training steps/s, best of 1 rounds of 50 steps, device cpu ({cpu_model()})"
    assert lines[1] == "| contender | steps/s | vs ppo |"
    assert [line.split(" | ")[0] for line in lines[3:]] == ["| adpo K=2", "| ppo"]  # no SAC on a Discrete env
    assert lines[-1].endswith("| 1.00x |")


def test_states_per_actor_step_are_timed_one_row_each(capsys) -> None:
    throughput.main(
        ["--env", "CartPole-v1", "--group-sizes", "2", "--group-batch-sizes", "8", "32", "--steps", "50", "--rounds", "1"]
    )
    rows = capsys.readouterr().out.splitlines()[3:]
    assert [row.split(" | ")[0] for row in rows] == ["| adpo K=2 states=8", "| adpo K=2 states=32", "| ppo"]
    model = throughput.build_contenders("CartPole-v1", [2], "cpu", [8])["adpo K=2 states=8"]()
    assert (model.group_size, model.group_batch_size) == (2, 8)


def test_layer_norm_critics_are_timed_beside_each_setting(capsys) -> None:
    throughput.main(["--env", "CartPole-v1", "--group-sizes", "2", "--critic-layer-norm", "--steps", "50", "--rounds", "1"])
    rows = capsys.readouterr().out.splitlines()[3:]
    assert [row.split(" | ")[0] for row in rows] == ["| adpo K=2", "| adpo K=2 critic_layer_norm", "| ppo"]
    contenders = throughput.build_contenders("CartPole-v1", [2], "cpu", critic_layer_norm=True)
    assert contenders["adpo K=2 critic_layer_norm"]().policy.critic_layer_norm is True
    assert contenders["adpo K=2"]().policy.critic_layer_norm is False


def test_a_ppo_round_counts_the_whole_rollout_it_took() -> None:
    """PPO collects whole rollouts: asked for 10 steps it takes 64, and the rate must count the 64."""
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    steps_per_second = throughput.time_training(model, 10, clock=iter([5.0, 7.0]).__next__)
    assert model.num_timesteps == 128 and steps_per_second == pytest.approx(64 / 2.0)
    model.get_env().close()


def test_entries_time_each_algorithms_tuned_entry(capsys) -> None:
    throughput.main(["--env", "CartPole-v1", "--entries", "--steps", "20", "--rounds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "| contender | steps/s | vs ppo entry |"
    assert [line.split(" | ")[0] for line in lines[3:]] == ["| adpo entry", "| ppo entry"]
    contenders = throughput.build_entry_contenders("LunarLanderContinuous-v3", "cpu")
    assert list(contenders) == ["adpo entry", "sac entry", "ppo entry"]
    adpo, sac = contenders["adpo entry"](), contenders["sac entry"]()
    # the yml entries' own settings, the off-policy warm-up shortened (it is not timed)
    assert (adpo.group_size, adpo.gradient_steps, adpo.train_freq.frequency) == (32, 2, 4)
    assert adpo.learning_starts == sac.learning_starts == throughput.LEARNING_STARTS
    for model in (adpo, sac):
        model.get_env().close()


@pytest.mark.skipif(th.cuda.is_available(), reason="checks the message shown where no GPU is present")
def test_cuda_without_a_gpu_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        throughput.main(["--device", "cuda"])
    assert exit_info.value.code == 2
    assert "torch sees no CUDA device" in capsys.readouterr().err
