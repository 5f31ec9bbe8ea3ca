"""One benchmark run in-process: a run that breaks is recorded as failed, with a valid result file."""

import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import train_one as train_one_module
from run_plan import RunSpec
from train_one import train_one


class NanRewardEnv(gym.Env):
    """A 4-step episode whose rewards are NaN: what a broken simulator or reward wrapper produces."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), float("nan"), self.t >= 4, False, {}


@pytest.fixture
def nan_env_id():
    env_id = "TestNanReward-v0"
    gym.register(env_id, entry_point=NanRewardEnv)
    yield env_id
    gym.registry.pop(env_id)


def test_nan_rewards_fail_the_run_and_still_write_valid_json(nan_env_id, tmp_path):
    overrides = {"n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1}
    spec = RunSpec("ppo", nan_env_id, 0, 32, str(tmp_path), overrides, eval_freq=16, eval_episodes=1)
    outcome = train_one(spec)
    assert outcome["status"] == "failed"
    text = (tmp_path / "result.json").read_text()
    assert "NaN" not in text  # NaN is not JSON: non-finite numbers are written as null
    result = json.loads(text)
    assert result["status"] == "failed" and result["error"]


def test_a_run_in_progress_has_a_running_result_file(tmp_path):
    """A run killed where nothing can be caught (SIGKILL) leaves this placeholder, never a folder without a result."""
    seen = []

    def progress(steps: int) -> None:
        seen.append(json.loads((tmp_path / "result.json").read_text())["status"])

    overrides = {"n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1}
    spec = RunSpec("ppo", "CartPole-v1", 0, 32, str(tmp_path), overrides, eval_freq=16, eval_episodes=1)
    assert train_one(spec, report=progress)["status"] == "ok"
    assert seen[0] == "running" and seen[-1] == "running"  # the last report comes before the result is written
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok" and result["config"]["seed"] == 0


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_run_whose_process_died_gets_its_final_status(tmp_path, interrupted):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from report import load_runs
    from run import collect
    from train_one import write_placeholder

    run_dir = tmp_path / "CartPole-v1" / "adpo" / "seed_0"
    run_dir.mkdir(parents=True)
    spec = RunSpec("adpo", "CartPole-v1", 0, 1000, str(run_dir), {}, eval_freq=500)
    write_placeholder(run_dir, spec, "2026-12-04T00:00:00+00:00", {"env_id": "CartPole-v1", "is_bandit": False})
    (run_dir / "eval.csv").write_text("timesteps,mean_reward,std_reward\n0,20,1\n500,90,5\n")
    future = Future()
    future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))

    outcome = collect(future, spec, interrupted)
    status = "interrupted" if interrupted else "failed"
    result = json.loads((run_dir / "result.json").read_text())
    assert outcome["status"] == result["status"] == status
    assert "process died" in result["error"] and "terminated abruptly" in result["error"]
    runs, left_out = load_runs(tmp_path, include_interrupted=True)
    if interrupted:  # reported up to its last evaluation
        assert left_out == 0 and runs[0].result["final_eval"]["mean_reward"] == 90.0
        assert runs[0].result["num_timesteps"] == 500
    else:
        assert runs == [] and left_out == 1


def test_versions_name_the_processor_and_fall_back_without_cpuinfo(monkeypatch) -> None:
    found = train_one_module.versions()
    assert found["cpu"] and found["cpu"] != "unknown" and found["torch_cpu_capability"]

    def no_cpuinfo(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr("builtins.open", no_cpuinfo)
    monkeypatch.setattr(train_one_module.platform, "processor", lambda: "")
    assert train_one_module.cpu_model() == "unknown"
