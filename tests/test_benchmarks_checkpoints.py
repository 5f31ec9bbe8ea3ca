"""Mid-run checkpoints: a killed benchmark run continues from its latest checkpoint with ``--resume``."""

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_one as train_one_module  # noqa: E402
from checkpoints import find_checkpoint, restore_model, save_checkpoint  # noqa: E402
from run_plan import RunSpec, allocate_dirs  # noqa: E402

from adpo_rl.agents import make_model  # noqa: E402

TINY_ADPO = {"learning_starts": 50, "batch_size": 16, "group_size": 4, "buffer_size": 1000, "n_steps": 3}


def tiny_spec(run_dir: Path, **changes) -> RunSpec:
    fields = dict(eval_freq=100, eval_episodes=1, checkpoint_freq=200)
    fields = {"seed": 0, "timesteps": 600, "overrides": dict(TINY_ADPO), **fields, **changes}
    return RunSpec("adpo", "CartPole-v1", run_dir=str(run_dir), **fields)


def interrupt_at(monkeypatch, step: int):
    """Make the next train_one raise KeyboardInterrupt (as Ctrl-C or SIGTERM do) once ``step`` steps are done."""

    def report(steps: int) -> None:
        if steps >= step:
            raise KeyboardInterrupt

    monkeypatch.setattr(
        train_one_module, "ProgressCallback", functools.partial(train_one_module.ProgressCallback, min_interval_s=0.0)
    )
    return report


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_killed_run_continues_from_its_checkpoint_with_resume(tmp_path, monkeypatch):
    run_dir = tmp_path / "CartPole-v1" / "adpo" / "seed_0"
    run_dir.mkdir(parents=True)
    report = interrupt_at(monkeypatch, 450)
    assert train_one_module.train_one(tiny_spec(run_dir), report)["status"] == "interrupted"
    interrupted = read_json(run_dir / "result.json")
    assert interrupted["status"] == "interrupted" and interrupted["num_timesteps"] == 450
    state = read_json(run_dir / "checkpoint" / "state.json")
    assert state["num_timesteps"] == 400  # the latest evaluation at least 200 steps after the previous checkpoint
    assert [row["timesteps"] for row in state["history"]] == [0, 100, 200, 300, 400]

    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--algo", "adpo", "--env", "CartPole-v1"]
    command += ["--seeds", "0", "--timesteps", "600", "--eval-freq", "100", "--eval-episodes", "1"]
    command += ["--checkpoint-freq", "200", "--log-dir", str(tmp_path), "--resume", "--hp"]
    command += [f"{key}={value}" for key, value in TINY_ADPO.items()]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr
    assert "1 run(s) continue from their checkpoint: CartPole-v1/adpo/seed_0 from 400 steps" in finished.stdout

    result = read_json(run_dir / "result.json")
    assert result["status"] == "ok" and result["num_timesteps"] == 600
    assert result["resumed_from"] == [400] and result["started_at"] == interrupted["started_at"]
    eval_rows = (run_dir / "eval.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in eval_rows] == [0, 100, 200, 300, 400, 500, 600]
    kept = [f"{row['timesteps']},{row['mean_reward']},{row['std_reward']}" for row in state["history"]]
    assert eval_rows[:5] == kept  # the evaluations before the checkpoint are kept, not run again
    assert not (run_dir / "checkpoint").exists(), "a finished run keeps no checkpoint"


def test_restore_brings_back_weights_counters_and_replay_buffer(tmp_path):
    spec = tiny_spec(tmp_path)
    model = make_model("adpo", "CartPole-v1", seed=0, overrides=TINY_ADPO)
    model.learn(300)
    save_checkpoint(tmp_path, model, spec, [{"timesteps": 300, "mean_reward": 9.0, "std_reward": 0.0}], {})
    checkpoint = find_checkpoint(spec)
    assert checkpoint is not None and checkpoint["num_timesteps"] == 300

    fresh = make_model("adpo", "CartPole-v1", seed=0, overrides=TINY_ADPO)
    restored = restore_model(fresh, checkpoint, "cpu")
    assert restored.num_timesteps == 300 and restored._n_updates == model._n_updates
    for key, value in model.policy.state_dict().items():
        th.testing.assert_close(restored.policy.state_dict()[key], value, msg=f"{key} not restored")
    assert restored.actor.optimizer.state_dict()["state"], "optimizer state not restored"
    buffer, original = restored.replay_buffer, model.replay_buffer
    assert buffer.pos == original.pos == 300
    assert (buffer.observations[:300] == original.observations[:300]).all()
    # The interruption truncates the episode in progress, so n-step returns do not run across the resumption.
    assert buffer.dones[299].all() and buffer.timeouts[299].all()
    restored.learn(100, reset_num_timesteps=False)
    assert restored.num_timesteps == 400


def test_a_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    run_dir = tmp_path / "seed_0"
    run_dir.mkdir()
    spec = tiny_spec(run_dir)
    model = make_model("adpo", "CartPole-v1", seed=0, overrides=TINY_ADPO)
    save_checkpoint(run_dir, model, spec, [], {})
    assert find_checkpoint(spec) is not None

    assert find_checkpoint(tiny_spec(run_dir, overrides={**TINY_ADPO, "beta": 0.3})) is None
    assert find_checkpoint(tiny_spec(run_dir, seed=1)) is None
    assert find_checkpoint(tiny_spec(run_dir, eval_freq=50)) is None
    assert find_checkpoint(tiny_spec(run_dir, timesteps=model.num_timesteps)) is None
    assert find_checkpoint(tiny_spec(run_dir, timesteps=5000)) is not None  # a larger budget continues

    todo, _ = allocate_dirs([tiny_spec(run_dir, overrides={**TINY_ADPO, "beta": 0.3})], "resume")
    assert todo and not any(run_dir.iterdir()), "an unfinished run without a matching checkpoint restarts afresh"


@pytest.mark.parametrize("script", ["run.py", "sweep.py"])
def test_a_negative_checkpoint_freq_is_a_usage_error(script):
    args = ["--algo", "adpo", "--env", "CartPole-v1", "--checkpoint-freq", "-1"]
    args += ["--grid", "beta", "1"] if script == "sweep.py" else []
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 2 and "--checkpoint-freq must be >= 0" in result.stderr
