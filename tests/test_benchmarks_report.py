"""report.py's checkpoint table (the return of every algorithm at given environment steps, mean ± 95% CI over seeds),
its reporting of interrupted runs, and reports over several runs folders."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from report import Run, build_report, checkpoint_table, load_runs, main, value_at


def _run(steps: list[int], rewards: list[float]) -> Run:
    return Run(
        {"config": {"env": "Pendulum-v1", "algo": "adpo"}}, {"timesteps": np.array(steps), "mean_reward": np.array(rewards)}
    )


def test_value_at_takes_the_last_evaluation_at_or_before_the_step() -> None:
    run = _run([0, 2000, 4000], [-1500.0, -800.0, -200.0])
    assert value_at(run, "mean_reward", 2000) == -800.0
    assert value_at(run, "mean_reward", 3999) == -800.0
    assert value_at(run, "mean_reward", 4000) == -200.0
    assert value_at(run, "mean_reward", 10_000) is None  # past the run's budget: not carried forward


def test_checkpoint_table_averages_seeds() -> None:
    runs = {"adpo": [_run([0, 2000], [-1000.0, -200.0]), _run([0, 2000], [-1000.0, -200.0])], "sac": [_run([0], [-900.0])]}
    table = checkpoint_table(runs, [0, 2000]).splitlines()
    assert table[0] == "| algorithm | 0 | 2,000 |"
    assert table[2] == "| adpo | -1000 ± 0 | -200 ± 0 |"
    assert table[3] == "| sac | -900 | n/a |"


def test_checkpoint_cells_that_fewer_seeds_reached_say_so() -> None:
    runs = {"adpo": [_run([0, 2000, 4000], [-1000.0, -200.0, -150.0]), _run([0, 2000], [-1000.0, -300.0])]}
    assert checkpoint_table(runs, [2000, 4000]).splitlines()[2] == "| adpo | -250 ± 635 | -150 (1/2 seeds) |"


def _write_run(root: Path, seed: int, status: str, rewards: list[float], algo: str = "adpo") -> None:
    folder = root / "Pendulum-v1" / algo / f"seed_{seed}"
    folder.mkdir(parents=True)
    steps = [1000 * i for i in range(len(rewards))]
    rows = "".join(f"{s},{r},0\n" for s, r in zip(steps, rewards, strict=True))
    (folder / "eval.csv").write_text("timesteps,mean_reward,std_reward\n" + rows)
    result = {
        "status": status,
        "config": {"env": "Pendulum-v1", "algo": algo, "seed": seed, "env_id": "Pendulum-v1"},
        "started_at": "2026-11-27T00:00:00+00:00",
        "num_timesteps": steps[-1] + 500,
        "final_eval": {"timesteps": steps[-1], "mean_reward": rewards[-1]},
        "steps_per_s": 100.0,
    }
    (folder / "result.json").write_text(json.dumps(result))


def test_interrupted_runs_are_reported_only_when_asked(tmp_path: Path) -> None:
    _write_run(tmp_path, 0, "ok", [-1200.0, -400.0, -200.0])
    _write_run(tmp_path, 1, "interrupted", [-1100.0, -600.0])
    _write_run(tmp_path, 2, "failed", [-1300.0])
    runs, left_out = load_runs(tmp_path)
    assert [r.result["config"]["seed"] for r in runs] == [0] and left_out == 2
    runs, left_out = load_runs(tmp_path, include_interrupted=True)
    assert sorted(r.result["config"]["seed"] for r in runs) == [0, 1] and left_out == 1

    report = build_report(tmp_path, tmp_path / "out", checkpoints=[1000, 2000], include_interrupted=True)
    assert "steps trained (interrupted runs)" in report
    assert "| 2 | -400 ± 2541 |" in report  # final: -200 (finished) and -600 (last evaluation of the interrupted one)
    assert "1,500 to 2,500 (1/2 interrupted)" in report
    assert "| adpo | -500 ± 1271 | -200 (1/2 seeds) |" in report
    assert "1 run(s) under" in report  # the failed one, still left out
    assert (tmp_path / "out" / "plots" / "Pendulum-v1.png").exists()


def test_several_runs_folders_make_one_report(tmp_path: Path) -> None:
    _write_run(tmp_path / "sweep_point", 0, "ok", [-1200.0, -300.0])
    _write_run(tmp_path / "baseline", 0, "ok", [-1100.0, -500.0], algo="sac")
    folders = [str(tmp_path / "sweep_point"), str(tmp_path / "baseline")]
    assert main([*folders, "--out", str(tmp_path / "out"), "--checkpoints", "0", "1000"]) == 0
    report = (tmp_path / "out" / "results.md").read_text()
    assert "| adpo | -1200 | -300 |" in report and "| sac | -1100 | -500 |" in report
    assert (tmp_path / "out" / "plots" / "Pendulum-v1.png").exists()


def test_several_runs_folders_need_an_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "a"), str(tmp_path / "b")])
    assert "--out" in capsys.readouterr().err


def test_runs_killed_without_a_result_are_counted_and_reported_when_asked(tmp_path: Path) -> None:
    _write_run(tmp_path, 0, "ok", [-1200.0, -400.0, -200.0])
    # What a run killed uncaught (SIGKILL, out of memory) leaves: train_one.py's placeholder and its evaluations.
    _write_run(tmp_path, 1, "ok", [-1100.0, -600.0, -300.0, -250.0])
    placeholder = tmp_path / "Pendulum-v1" / "adpo" / "seed_1" / "result.json"
    config = {"env": "Pendulum-v1", "algo": "adpo", "seed": 1, "env_id": "Pendulum-v1"}
    placeholder.write_text(json.dumps({"status": "running", "config": config, "started_at": "2026-11-27T00:00:00+00:00"}))

    report = build_report(tmp_path, tmp_path / "out", checkpoints=[1000, 3000])
    assert "| 1 |" in report and "1 run(s) under" in report  # left out, and counted as unfinished

    report = build_report(tmp_path, tmp_path / "out", checkpoints=[1000, 3000], include_interrupted=True)
    assert "| 2 | -225 ± 317.6 |" in report  # final: -200 (finished) and -250 (the killed run's last evaluation)
    assert "2,500 to 3,000 (1/2 interrupted)" in report  # the killed run: its last evaluation
    assert "| adpo | -500 ± 1271 | -250 (1/2 seeds) |" in report
