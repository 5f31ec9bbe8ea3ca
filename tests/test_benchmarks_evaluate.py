"""A finished benchmark run keeps its final model, and benchmarks/evaluate.py evaluates that model again."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from evaluate import evaluate_run, find_runs, main  # noqa: E402
from run_plan import RunSpec  # noqa: E402
from train_one import EVAL_SEED_OFFSET, train_one  # noqa: E402

EPISODES = 2


def finished_run(tmp_path: Path, algo: str, env: str, overrides: dict, timesteps: int) -> Path:
    run_dir = tmp_path / env / algo / "seed_3"
    run_dir.mkdir(parents=True)
    # eval_freq beyond the budget: one evaluation before training and one after it, EPISODES episodes each.
    spec = RunSpec(algo, env, 3, timesteps, str(run_dir), overrides, eval_freq=10 * timesteps, eval_episodes=EPISODES)
    assert train_one(spec)["status"] == "ok"
    return run_dir


def final_eval(run_dir: Path) -> float:
    return float((run_dir / "eval.csv").read_text().splitlines()[-1].split(",")[1])


@pytest.mark.parametrize(
    ("algo", "env", "overrides", "timesteps", "saved"),
    [
        ("adpo", "CartPole-v1", {"learning_starts": 50, "batch_size": 32}, 200, {"model.zip"}),
        (
            "ppo",
            "CartPole-v1",
            {"vec_normalize": True, "n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 1},
            128,
            {"model.zip", "vec_normalize.pkl"},
        ),
    ],
)
def test_the_saved_final_model_reproduces_the_runs_last_evaluation(tmp_path, algo, env, overrides, timesteps, saved):
    run_dir = finished_run(tmp_path, algo, env, overrides, timesteps)
    assert saved <= {path.name for path in run_dir.iterdir()}
    assert not (run_dir / "checkpoint").exists()
    # The run evaluated EPISODES episodes before training and EPISODES after, on one env seeded seed + offset; the env
    # reset once more when the first evaluation's last episode ended. Replayed on that env's seed, episodes
    # EPISODES + 2 ... 2 * EPISODES + 1 start where the last evaluation's did: the saved model must score the same.
    replay = evaluate_run(run_dir, 2 * EPISODES + 1, seed=3 + EVAL_SEED_OFFSET)
    assert replay["num_timesteps"] == timesteps
    assert np.mean(replay["returns"][EPISODES + 1 :]) == pytest.approx(final_eval(run_dir))


def test_evaluate_cli_reports_each_run_and_the_mean_over_seeds(tmp_path):
    overrides = {"n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1}
    run_dir = finished_run(tmp_path, "ppo", "CartPole-v1", overrides, 32)
    unfinished = tmp_path / "CartPole-v1" / "ppo" / "seed_4"
    unfinished.mkdir()
    (unfinished / "result.json").write_text(json.dumps({"status": "interrupted"}))
    assert find_runs([tmp_path]) == ([run_dir], [unfinished])

    out = tmp_path / "evaluation.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "evaluate.py"), str(tmp_path), "--episodes", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    (saved,) = json.loads(out.read_text())
    assert saved["episodes"] == 3 and len(saved["returns"]) == 3
    assert saved["mean_reward"] == pytest.approx(np.mean(saved["returns"]))
    assert f"| CartPole-v1 | ppo | 3 | 32 | 3 | {saved['mean_reward']:.2f} |" in result.stdout
    assert f"| CartPole-v1 | ppo | 1 | {saved['mean_reward']:.2f} ± " in result.stdout
    assert "skipped" in result.stderr and "seed_4" in result.stderr
    # Same default seed, same episodes: a second evaluation repeats the first.
    assert evaluate_run(run_dir, 3)["returns"] == saved["returns"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["does/not/exist"], "does/not/exist does not exist"),
        (["{tmp}"], "holds no benchmark run"),
        (["{tmp}", "--episodes", "0"], "--episodes must be >= 1"),
    ],
)
def test_evaluate_cli_rejects_bad_input_with_a_clear_message(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(tmp=tmp_path) for arg in args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_normalising_run_without_its_statistics_is_a_usage_error(tmp_path, capsys):
    overrides = {"vec_normalize": True, "n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1}
    run_dir = finished_run(tmp_path, "ppo", "CartPole-v1", overrides, 32)
    (run_dir / "vec_normalize.pkl").unlink()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "normalises observations but has no vec_normalize.pkl" in capsys.readouterr().err


def test_a_folder_of_unfinished_runs_is_reported_as_having_no_model(tmp_path, capsys):
    run_dir = tmp_path / "CartPole-v1" / "adpo" / "seed_0"
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({"status": "running"}))
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert "has a final model (model.zip)" in capsys.readouterr().err
