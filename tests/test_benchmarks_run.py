"""benchmarks/run.py and benchmarks/report.py through their command lines, with tiny budgets."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
REPORT = ROOT / "benchmarks" / "report.py"
# Budgets small enough for seconds per run on a loaded 2-core machine; ADPO and PPO both update several times.
TINY = [
    "--timesteps", "64", "--eval-freq", "32", "--eval-episodes", "1", "--quiet",
    "--hp", "adpo:learning_starts=32", "adpo:batch_size=16", "adpo:group_size=4", "adpo:buffer_size=1000",
    "ppo:n_envs=2", "ppo:n_steps=16", "ppo:batch_size=16", "ppo:n_epochs=1",
]  # fmt: skip


def cli(script: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    assert tag in accumulator.Tags()["scalars"], f"{tag} not logged in {run_dir}"
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def has_bandits() -> bool:
    try:
        from adpo_rl.envs import make_bandit_vec_env  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    """adpo, ppo and sac asked on CartPole-v1 (sac must be skipped), one seed, sequentially."""
    log_dir = tmp_path_factory.mktemp("runs")
    result = cli(RUN, "--algo", "adpo", "ppo", "sac", "--env", "CartPole-v1", "--seeds", "0", "--log-dir", str(log_dir), *TINY)
    return log_dir, result


def test_each_algorithm_logs_eval_mean_reward_against_env_steps(cartpole):
    log_dir, result = cartpole
    for algo in ("adpo", "ppo"):
        run_dir = log_dir / "CartPole-v1" / algo / "seed_0"
        steps = [step for step, _ in scalars(run_dir, "eval/mean_reward")]
        assert steps[0] == 0 and steps == sorted(steps) and steps[-1] >= 64, (algo, steps, result.stderr)


def test_result_json_and_eval_csv_describe_the_run(cartpole):
    log_dir, _ = cartpole
    for algo in ("adpo", "ppo"):
        run_dir = log_dir / "CartPole-v1" / algo / "seed_0"
        result = json.loads((run_dir / "result.json").read_text())
        assert result["status"] == "ok", result["error"]
        assert result["config"]["algo"] == algo and result["config"]["env"] == "CartPole-v1" and result["config"]["seed"] == 0
        assert result["config"]["hyperparams"]["batch_size"] == 16
        assert {"stable-baselines3", "torch", "gymnasium", "adpo-rl"} <= set(result["versions"])
        # The machine too: another processor's rounding can change a seed's run.
        assert result["versions"]["cpu"] and result["versions"]["torch_cpu_capability"]  # e.g. "AVX512"
        assert result["num_timesteps"] >= 64 and result["steps_per_s"] > 0 and result["wall_time_s"] > 0
        assert result["final_eval"]["timesteps"] == result["num_timesteps"]
        assert result["best_eval"]["mean_reward"] >= result["final_eval"]["mean_reward"]
        lines = (run_dir / "eval.csv").read_text().splitlines()
        assert lines[0].startswith("timesteps,mean_reward") and len(lines) - 1 == result["n_evals"]
        assert not list(run_dir.glob(".*.tmp")), "atomic writes left a temporary file"


def test_sac_on_discrete_env_is_skipped_with_reason_and_exit_code_3(cartpole):
    log_dir, result = cartpole
    assert result.returncode == 3, result.stderr
    assert "sac supports only Box action spaces; CartPole-v1 has Discrete(2)" in result.stderr
    assert not (log_dir / "CartPole-v1" / "sac").exists()


def test_report_prints_a_table_and_writes_a_png(cartpole, tmp_path):
    log_dir, _ = cartpole
    result = cli(REPORT, str(log_dir), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "### CartPole-v1" in result.stdout and "steps to mean_reward ≥ 475" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| adpo |") or line.startswith("| ppo |")]
    assert len(rows) == 2
    png = tmp_path / "plots" / "CartPole-v1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plots/CartPole-v1.png" in (tmp_path / "results.md").read_text()


def test_parallel_jobs_write_the_same_files_and_numbers(cartpole, tmp_path):
    log_dir, _ = cartpole
    args = ["--algo", "adpo", "ppo", "--env", "CartPole-v1", "--seeds", "0", "--log-dir", str(tmp_path), "--jobs", "2"]
    result = cli(RUN, *args, *TINY)
    assert result.returncode == 0, result.stderr

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)).split("events.out.tfevents")[0] for p in root.rglob("*") if p.is_file()}

    sequential = {name for name in files(log_dir) if not name.startswith("sac")}
    assert files(tmp_path) == sequential
    for algo in ("adpo", "ppo"):
        run = Path("CartPole-v1") / algo / "seed_0" / "eval.csv"
        assert (tmp_path / run).read_text() == (log_dir / run).read_text(), f"{algo}: --jobs 2 changed the numbers"


def test_unknown_algorithm_or_env_exits_2_listing_valid_choices(tmp_path):
    result = cli(RUN, "--algo", "trpo", "--env", "CartPole-v1", "--log-dir", str(tmp_path))
    assert result.returncode == 2 and "adpo, dpo, grpo, ppo, sac" in result.stderr
    result = cli(RUN, "--algo", "ppo", "--env", "CartPol-v1", "--log-dir", str(tmp_path))
    assert result.returncode == 2 and "CartPole-v1" in result.stderr and "Pendulum-v1" in result.stderr
    assert not any(tmp_path.iterdir())


def test_existing_run_folder_is_never_overwritten_unless_asked(tmp_path):
    args = ["--algo", "ppo", "--env", "CartPole-v1", "--log-dir", str(tmp_path), *TINY]
    first = tmp_path / "CartPole-v1" / "ppo" / "seed_0" / "result.json"
    assert cli(RUN, *args).returncode == 0
    original = first.read_text()
    assert cli(RUN, *args).returncode == 0
    assert first.read_text() == original
    assert json.loads((first.parent.parent / "seed_0_1" / "result.json").read_text())["status"] == "ok"
    resumed = cli(RUN, *args, "--resume")
    assert resumed.returncode == 0 and first.read_text() == original
    assert not (first.parent.parent / "seed_0_2").exists()
    assert cli(RUN, *args, "--overwrite").returncode == 0
    assert first.read_text() != original


def test_a_failing_run_does_not_lose_the_others(tmp_path):
    # group_size=1 is rejected by ADPO when the model is built; PPO's run must still finish and be recorded.
    result = cli(RUN, "--algo", "adpo", "ppo", "--env", "CartPole-v1", "--log-dir", str(tmp_path), *TINY, "adpo:group_size=1")
    assert result.returncode == 1
    failed = json.loads((tmp_path / "CartPole-v1" / "adpo" / "seed_0" / "result.json").read_text())
    assert failed["status"] == "failed" and "group_size" in failed["error"]
    assert json.loads((tmp_path / "CartPole-v1" / "ppo" / "seed_0" / "result.json").read_text())["status"] == "ok"


def signal_runner_once_training(
    args: list[str], ready: Callable[[], bool], sigint: signal.Handlers, signum: signal.Signals
) -> tuple[int, str]:
    """
    Start run.py with ``args`` and the SIGINT disposition ``sigint``, send ``signum`` once ``ready()`` holds and the
    run has had a moment to train; return its exit code and stderr.
    """
    process = subprocess.Popen(
        [sys.executable, str(RUN), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    # Generous deadlines: on a loaded 2-core machine starting Python, torch and the first run takes a while.
    deadline = time.monotonic() + 300
    while not ready() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(3)  # let the run get into training
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def test_ctrl_c_keeps_finished_runs_and_records_the_interrupted_one(tmp_path):
    args = ["--algo", "ppo", "adpo", "--env", "CartPole-v1", "--log-dir", str(tmp_path), "--quiet", "--eval-freq", "1000000"]
    args += ["--hp", "ppo:n_timesteps=64", "ppo:n_envs=2", "ppo:n_steps=16", "adpo:n_timesteps=1000000"]
    finished = tmp_path / "CartPole-v1" / "ppo" / "seed_0" / "result.json"
    adpo_events = tmp_path / "CartPole-v1" / "adpo" / "seed_0"
    # A shell running the suite in the background starts it with SIGINT ignored, and Python then never turns SIGINT
    # into KeyboardInterrupt: give the runner the disposition a terminal gives it.
    returncode, stderr = signal_runner_once_training(
        [*args, "adpo:learning_starts=10"],
        lambda: finished.exists() and json.loads(finished.read_text())["status"] == "ok" and adpo_events.exists(),
        signal.SIG_DFL,
        signal.SIGINT,
    )
    assert returncode == 130, stderr
    assert json.loads(finished.read_text())["status"] == "ok"
    interrupted = json.loads((tmp_path / "CartPole-v1" / "adpo" / "seed_0" / "result.json").read_text())
    assert interrupted["status"] == "interrupted" and "--resume" in stderr


def test_sigterm_stops_a_background_run_with_its_result_recorded(tmp_path):
    # As `run.py ... &` from a script: SIGINT ignored, so only SIGTERM (kill, timeout, schedulers) can stop it.
    args = ["--algo", "adpo", "--env", "CartPole-v1", "--log-dir", str(tmp_path), "--quiet", "--eval-freq", "500"]
    run_dir = tmp_path / "CartPole-v1" / "adpo" / "seed_0"
    returncode, stderr = signal_runner_once_training(
        [*args, "--hp", "n_timesteps=1000000", "learning_starts=10"],
        (run_dir / "eval.csv").exists,
        signal.SIG_IGN,
        signal.SIGTERM,
    )
    assert returncode == 130, stderr
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "interrupted" and "SIGTERM" in result["error"] and result["num_timesteps"] > 0


@pytest.mark.skipif(not has_bandits(), reason="the bandit suite (adpo_rl.envs) is not installed yet")
def test_bandit_runs_log_win_mass_and_regret(tmp_path):
    env = "adpo_rl/ContextualBandit-v0"
    result = cli(RUN, "--algo", "adpo", "ppo", "--env", env, "--log-dir", str(tmp_path), *TINY)
    assert result.returncode == 0, result.stderr
    for algo in ("adpo", "ppo"):
        run_dir = tmp_path / "adpo_rl_ContextualBandit-v0" / algo / "seed_0"
        for tag in ("eval/mean_reward", "eval/win_mass", "eval/regret"):
            assert scalars(run_dir, tag)[0][0] == 0
        final = json.loads((run_dir / "result.json").read_text())["final_eval"]
        assert 0.0 <= final["win_mass"] <= 1.0 and final["regret"] >= 0.0
    report = cli(REPORT, str(tmp_path))
    assert report.returncode == 0 and "final win_mass" in report.stdout


def test_noisy_control_env_runs_in_its_own_folder_with_clean_evaluation(tmp_path):
    result = cli(RUN, "--algo", "adpo", "--env", "CartPole-v1+flip-high", "--log-dir", str(tmp_path), *TINY)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "CartPole-v1_flip-high" / "adpo" / "seed_0"
    result_json = json.loads((run_dir / "result.json").read_text())
    assert result_json["config"]["env"] == "CartPole-v1+flip-high"
    assert result_json["config"]["reward_noise"] == "flip-high"
    # evaluation returns are clean: CartPole's are positive step counts even though training saw r -> -r flips
    assert result_json["final_eval"]["mean_reward"] >= 8.0
