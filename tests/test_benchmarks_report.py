"""report.py's checkpoint table: the return of every algorithm at given environment steps, mean ± 95% CI over seeds."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from report import Run, checkpoint_table, value_at


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
