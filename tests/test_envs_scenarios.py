"""Named scenarios: the 13 names, their kwargs, and errors that list the valid names."""

import gymnasium as gym
import numpy as np
import pytest

from adpo_rl.envs import CONTEXTUAL_BANDIT_ID, SCENARIOS, make_scenario, resolve_env, scenario_env_kwargs


def test_thirteen_scenarios():
    expected = {"none"} | {f"{n}-{s}" for n in ("gaussian", "cauchy", "flip", "shift") for s in ("low", "medium", "high")}
    assert set(SCENARIOS) == expected
    assert SCENARIOS["cauchy-high"] == {"noise": "cauchy", "severity": "high"}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_builds_and_steps(name):
    env_id, kwargs = scenario_env_kwargs(name)
    assert env_id == CONTEXTUAL_BANDIT_ID
    env = gym.make(env_id, **kwargs)
    _, info = env.reset(seed=0)
    assert np.isfinite(env.step(info["optimal_action"])[1])
    assert env.unwrapped.problem.noise.name == kwargs["noise"]


def test_scenario_kwargs_are_fresh_copies():
    _, kwargs = scenario_env_kwargs("flip-low")
    kwargs["noise"] = "none"
    assert SCENARIOS["flip-low"]["noise"] == "flip"


def test_make_scenario_overrides_and_eval_flag():
    train = make_scenario("shift-medium", context_dim=4)
    evaluation = make_scenario("shift-medium", context_dim=4, eval_mode=True)
    assert train.unwrapped.problem.context_dim == 4 and evaluation.unwrapped.eval_mode
    assert train.observation_space == evaluation.observation_space  # SB3 can evaluate a model on the eval env
    contexts = evaluation.unwrapped.problem.sample_contexts(np.random.default_rng(0), 1000)
    assert all(evaluation.observation_space.contains(c) for c in contexts)
    assert contexts.mean() > 0.8  # delta 2 over sqrt(4) per coordinate


def test_unknown_scenario_lists_valid_names():
    with pytest.raises(ValueError, match=r"'cauchy-extreme'.*none, gaussian-low.*shift-high"):
        scenario_env_kwargs("cauchy-extreme")
    with pytest.raises(ValueError, match="cauchy-extreme"):
        make_scenario("cauchy-extreme")
    with pytest.raises(ValueError, match=r"valid ids.*valid scenarios"):
        resolve_env("Pendulum-v1")
