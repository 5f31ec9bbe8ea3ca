"""benchmarks/bandit_study.py through its command line, on a tiny budget."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "benchmarks" / "bandit_study.py"
TINY = ["--methods", "adpo", "ppo", "--scenarios", "none", "cauchy-high", "--seeds", "0", "1"]
TINY += ["--timesteps", "1600", "--eval-contexts", "200", "--quiet"]


def study(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STUDY), *args], capture_output=True, text=True, timeout=240, cwd=ROOT)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("bandit_study")
    result = study(*TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_writes_one_csv_row_per_run_with_metrics(tiny_study):
    rows = read_csv(tiny_study / "results.csv")
    runs = {(row["method"], row["scenario"], row["seed"]) for row in rows}
    assert len(rows) == 8 and runs == {(m, s, seed) for m in ("adpo", "ppo") for s in ("none", "cauchy-high") for seed in "01"}
    for row in rows:
        assert 0.0 <= float(row["win_mass"]) <= 1.0 and float(row["regret"]) >= 0.0
        assert int(row["timesteps_done"]) >= 1600  # the budget is reached (a last group or rollout may overshoot)
        assert 0 < int(row["mid_timesteps"]) < int(row["timesteps_done"])  # one evaluation near half the budget
    # Seed s is also the bandit problem's seed: the two seeds are two problems.
    for row in rows:
        assert json.loads(row["hyperparams"])["env_kwargs"]["problem_seed"] == int(row["seed"])


def test_writes_tables_with_ci_and_the_heat_map(tiny_study):
    table = (tiny_study / "results.md").read_text()
    assert "## Final win-mass" in table and "## Final regret" in table and "| none |" in table and "| cauchy-high |" in table
    assert " ± " in table and "**" in table  # mean ± CI, best per row in bold
    assert "Default ADPO ≥ PPO (mean win-mass) in" in table
    png = (tiny_study / "win_mass_heatmap.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_rerun_skips_finished_runs_and_resumes_missing_ones(tiny_study):
    csv_path = tiny_study / "results.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join(lines[:-1]))  # as if interrupted before the last run
    result = study(*TINY[:-1], "--out", str(tiny_study))
    assert result.returncode == 0, result.stderr
    assert "7 of 8 runs already in" in result.stdout and "1 to go" in result.stdout
    rows = read_csv(csv_path)
    assert len(rows) == 8 and rows[:7] == list(csv.DictReader(lines[:-1]))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "adpo", "sac"], "unknown method 'sac'; valid methods: adpo, adpo-fixed, adpo-pairwise, adpo-kde, dpo"),
        (["--scenarios", "cauchy-extreme"], "unknown scenario 'cauchy-extreme'; valid scenarios: none, gaussian-low"),
        (["--sweep", "everything"], "unknown sweep stage 'everything'; valid stages: adpo-grid, adpo-anchor, adpo-final"),
    ],
)
def test_unknown_names_exit_2_listing_the_valid_ones(tmp_path, args, message):
    result = study(*args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert not any(tmp_path.iterdir())  # nothing run, nothing written
