"""benchmarks/sweep.py: grid points, their folders, the ranking and resuming, with tiny budgets."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "benchmarks" / "sweep.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

from run_plan import UsageError  # noqa: E402
from sweep import grid_points, point_name  # noqa: E402

TINY = [
    "--timesteps", "64", "--eval-freq", "32", "--eval-episodes", "1", "--quiet",
    "--hp", "learning_starts=32", "batch_size=16", "buffer_size=1000",
]  # fmt: skip


def sweep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SWEEP), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_grid_is_the_cartesian_product_with_literal_values():
    points = grid_points([["group_size", "4", "8"], ["anchor", "ema", "on_policy"]])
    assert points == [
        {"group_size": 4, "anchor": "ema"},
        {"group_size": 4, "anchor": "on_policy"},
        {"group_size": 8, "anchor": "ema"},
        {"group_size": 8, "anchor": "on_policy"},
    ]
    assert point_name({"beta": 0.5, "anchor": "ema"}) == "beta_0.5_anchor_ema"
    with pytest.raises(UsageError, match="has no values"):
        grid_points([["beta"]])
    with pytest.raises(UsageError, match="repeats a key"):
        grid_points([["beta", "1"], ["beta", "2"]])


def test_sweep_trains_every_point_ranks_them_and_resumes(tmp_path):
    args = ["--algo", "adpo", "--env", "CartPole-v1", "--grid", "group_size", "2", "4", "--log-dir", str(tmp_path), *TINY]
    first = sweep(*args)
    assert first.returncode == 0, first.stderr
    assert "2 to run, 0 done" in first.stdout
    for point in ("group_size_2", "group_size_4"):
        assert (tmp_path / point / "CartPole-v1" / "adpo" / "seed_0" / "result.json").exists()
    table = (tmp_path / "sweep.md").read_text()
    assert "| group_size=2 |" in table and "| group_size=4 |" in table
    again = sweep(*args)
    assert again.returncode == 0 and "0 to run, 2 done" in again.stdout


def test_bad_grid_exits_2_with_the_reason(tmp_path):
    result = sweep("--algo", "sac", "--env", "CartPole-v1", "--grid", "tau", "0.01", "--log-dir", str(tmp_path), *TINY)
    assert result.returncode == 2 and "sac supports only Box action spaces" in result.stderr
