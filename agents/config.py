"""Hyperparameters per (algorithm, environment) from ``agents/hyperparams/<algo>.yml``, rl-zoo style."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.utils import LinearSchedule
from torch import nn

HYPERPARAMS_DIR = Path(__file__).parent / "hyperparams"
# Keys of a yml entry that configure the run rather than the algorithm's constructor.
# "vec_normalize" is rl-zoo's "normalize" (VecNormalize) under an unambiguous name: ADPO's own ``normalize``
# argument (how group scores are normalised) passes through to the constructor.
RUN_KEYS = ("n_timesteps", "n_envs", "policy", "vec_normalize", "env_kwargs")
# Constructor arguments that accept an SB3 schedule (ADPO's beta and exploration_floor too), written "lin_<start>" or
# "step_<before>_to_<after>_at_<fraction>" in the yml (see parse_schedule).
SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf", "beta", "exploration_floor")
_LINEAR_SCHEDULE = re.compile(r"lin_(?P<start>[^_]+)(?:_to_(?P<end>[^_]+))?(?:_from_(?P<hold>[^_]+))?")
_STEP_SCHEDULE = re.compile(r"step_(?P<before>[^_]+)_to_(?P<after>[^_]+)_at_(?P<at>[^_]+)")


@dataclass(frozen=True)
class HeldLinearSchedule:
    """
    A schedule that holds ``start`` for the first ``hold`` fraction of training, then moves linearly to ``end``,
    reached at the end of training. With ``hold=0`` it is rl-zoo's linear schedule; values returned while held are
    exactly ``start``, so a run with a held schedule repeats a constant-rate run step for step until the decay begins.

    :param start: value at the start of training
    :param end: value at the end of training
    :param hold: fraction of training (in ``[0, 1)``) during which the value stays at ``start``
    """

    start: float
    end: float = 0.0
    hold: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.hold < 1.0:
            raise ValueError(f"the hold fraction of a linear schedule must be in [0, 1), got {self.hold!r}")

    def __call__(self, progress_remaining: float) -> float:
        """
        :param progress_remaining: SB3's training progress, 1 at the start and 0 at the end
        :return: the value at that point of training
        """
        elapsed = 1.0 - progress_remaining
        if elapsed <= self.hold:
            return self.start
        return self.start + (self.end - self.start) * (elapsed - self.hold) / (1.0 - self.hold)


@dataclass(frozen=True)
class StepSchedule:
    """
    A schedule that is ``before`` until the ``at`` fraction of training has passed, then ``after`` to the end: a
    setting switched on (or off) part-way through a run, which repeats the ``before`` run step for step until then.

    :param before: value for the first ``at`` fraction of training
    :param after: value from then on
    :param at: fraction of training (in ``(0, 1)``) at which the value switches
    """

    before: float
    after: float
    at: float

    def __post_init__(self) -> None:
        if not 0.0 < self.at < 1.0:
            raise ValueError(f"the switch point of a step schedule must be in (0, 1), got {self.at!r}")

    def __call__(self, progress_remaining: float) -> float:
        """
        :param progress_remaining: SB3's training progress, 1 at the start and 0 at the end
        :return: the value at that point of training
        """
        return self.before if 1.0 - progress_remaining < self.at else self.after


@dataclass(frozen=True)
class AgentConfig:
    """
    Everything needed to build a model for one (algorithm, environment).

    :param algo: algorithm name
    :param env: environment name as given
    :param source: the yml entry the values came from (``"CartPole-v1"``, ``"bandit"``, ``"default"``)
    :param hyperparams: the merged entry (yml, preset, overrides) as plain data, for logs and result files
    :param policy: policy alias (``"MlpPolicy"``)
    :param n_envs: number of environment copies
    :param n_timesteps: the entry's training budget in environment steps
    :param vec_normalize: ``VecNormalize`` arguments, or None
    :param env_kwargs: extra environment constructor arguments
    :param algo_kwargs: constructor arguments, parsed (schedules and activation classes built)
    """

    algo: str
    env: str
    source: str
    hyperparams: dict[str, Any]
    policy: str
    n_envs: int
    n_timesteps: int
    vec_normalize: dict[str, Any] | None
    env_kwargs: dict[str, Any]
    algo_kwargs: dict[str, Any]


def load_hyperparams_file(algo: str) -> dict[str, dict[str, Any]]:
    """
    :param algo: algorithm name
    :return: the parsed ``agents/hyperparams/<algo>.yml`` (entry name -> entry)
    """
    path = HYPERPARAMS_DIR / f"{algo}.yml"
    with path.open() as file:
        return yaml.safe_load(file) or {}


def select_entry(entries: dict[str, dict[str, Any]], names: list[str]) -> tuple[str, dict[str, Any]]:
    """
    :param entries: a hyperparameter file's entries
    :param names: candidate entry names, most specific first (``"default"`` is tried last)
    :return: the first present name and a copy of its entry
    """
    for name in [*names, "default"]:
        if name in entries:
            return name, copy.deepcopy(entries[name])
    raise KeyError(f"no entry for any of {names} and no 'default' entry")


def apply_overrides(hyperparams: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """
    :param hyperparams: an entry (not modified)
    :param overrides: values to set; a dotted key (``policy_kwargs.net_arch``) sets one item of a nested dict
    :return: the updated copy
    """
    merged = copy.deepcopy(hyperparams)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = merged
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"cannot set {key!r}: {part!r} is not a dict")
        node[leaf] = copy.deepcopy(value)
    return merged


def parse_schedule(value: Any) -> Any:
    """
    :param value: a number, or ``"lin_<start>"`` (rl-zoo's: linear from ``start`` to 0 over training), optionally with
        ``"_to_<end>"`` (another final value) and ``"_from_<fraction>"`` (hold ``start`` for that fraction of training,
        then decay): ``"lin_1e-3_from_0.2"`` is 1e-3 for the first 20% of the steps, then linear to 0; or
        ``"step_<before>_to_<after>_at_<fraction>"``: ``"step_0_to_0.02_at_0.2"`` is 0 for the first 20% of the steps,
        then 0.02
    :return: the number, or the schedule
    """
    if isinstance(value, str) and value.startswith("step_"):
        return parse_step_schedule(value)
    if not (isinstance(value, str) and value.startswith("lin_")):
        return value
    malformed = ValueError(
        f"schedule {value!r} is not of the form lin_<start>[_to_<end>][_from_<fraction>], e.g. lin_1e-3 or "
        "lin_1e-3_to_1e-4_from_0.2"
    )
    match = _LINEAR_SCHEDULE.fullmatch(value)
    if match is None:
        raise malformed
    try:
        start, end, hold = (float(match[name] or 0) for name in ("start", "end", "hold"))
    except ValueError:
        raise malformed from None
    if match["end"] is None and match["hold"] is None:
        return LinearSchedule(start, 0.0, 1.0)
    return HeldLinearSchedule(start, end, hold)


def parse_step_schedule(value: str) -> StepSchedule:
    """
    :param value: ``"step_<before>_to_<after>_at_<fraction>"``
    :return: the schedule
    """
    malformed = ValueError(
        f"schedule {value!r} is not of the form step_<before>_to_<after>_at_<fraction>, e.g. step_0_to_0.02_at_0.2"
    )
    match = _STEP_SCHEDULE.fullmatch(value)
    if match is None:
        raise malformed
    try:
        before, after, at = (float(match[name]) for name in ("before", "after", "at"))
    except ValueError:
        raise malformed from None
    return StepSchedule(before, after, at)


def parse_policy_kwargs(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """
    :param policy_kwargs: policy arguments from yml; ``activation_fn`` may name a ``torch.nn`` class (``ReLU``)
    :return: arguments ready for the policy constructor
    """
    parsed = dict(policy_kwargs)
    activation = parsed.get("activation_fn")
    if isinstance(activation, str):
        name = activation.removeprefix("nn.")
        if not isinstance(getattr(nn, name, None), type):
            raise ValueError(f"activation_fn {activation!r} is not a torch.nn module (e.g. ReLU, Tanh)")
        parsed["activation_fn"] = getattr(nn, name)
    return parsed


def parse_vec_normalize(value: Any) -> dict[str, Any] | None:
    """
    :param value: ``true``/``false`` or a dict of ``VecNormalize`` arguments
    :return: ``VecNormalize`` arguments, or None for no normalisation
    """
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        return dict(value)
    raise ValueError(f"vec_normalize must be true, false or a dict of VecNormalize arguments, not {value!r}")


def _drop_stale_anchor_kwargs(hyperparams: dict[str, Any], entry: dict[str, Any], changes: dict[str, Any]) -> None:
    """
    An entry's ``anchor_kwargs`` belong to its ``anchor`` mode (``rate`` to ema, ``threshold`` to kl_triggered):
    when the preset or the user switches the mode without giving options, the entry's options are dropped, so that
    ``--hp anchor=on_policy`` works on an env whose entry sets an EMA rate.

    :param hyperparams: the merged entry, updated in place
    :param entry: the yml entry
    :param changes: the preset's and the user's keys
    """
    switched = "anchor" in changes and changes["anchor"] != entry.get("anchor")
    if switched and not any(key.split(".")[0] == "anchor_kwargs" for key in changes):
        hyperparams.pop("anchor_kwargs", None)


def get_agent_config(
    algo: str,
    env: str,
    *,
    env_id: str | None = None,
    is_bandit: bool = False,
    preset: dict[str, Any] | None = None,
    n_envs: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> AgentConfig:
    """
    Merge, in order: the yml entry for (algo, env), the algorithm's preset, the user's overrides.

    The entry is looked up by ``env`` as given, then ``env_id``, then ``"bandit"`` for bandits, then ``"default"``.

    :param algo: algorithm name
    :param env: environment name as given (a gymnasium id or a scenario name)
    :param env_id: the gymnasium id ``env`` resolves to
    :param is_bandit: whether to fall back on the ``bandit`` entry
    :param preset: constructor arguments that define the algorithm (see :class:`agents.registry.AlgoSpec`)
    :param n_envs: number of copies, over the entry's ``n_envs``
    :param overrides: ``{key: value}`` over everything else (dotted keys reach into dicts)
    :return: the configuration
    """
    names = [env] + ([env_id] if env_id and env_id != env else []) + (["bandit"] if is_bandit else [])
    source, entry = select_entry(load_hyperparams_file(algo), names)
    hyperparams = apply_overrides({**entry, **(preset or {})}, overrides or {})
    _drop_stale_anchor_kwargs(hyperparams, entry, {**(preset or {}), **(overrides or {})})
    if n_envs is not None:
        hyperparams["n_envs"] = n_envs
    if isinstance(hyperparams.get("normalize"), (bool, dict)):
        raise ValueError(
            f"normalize={hyperparams['normalize']!r}: for observation/reward normalisation (rl-zoo's normalize) use "
            "vec_normalize; normalize is passed to the algorithm (ADPO: group score normalisation 'zscore' or 'none')"
        )
    algo_kwargs = {key: value for key, value in hyperparams.items() if key not in RUN_KEYS}
    for key in SCHEDULE_KEYS:
        if key in algo_kwargs:
            algo_kwargs[key] = parse_schedule(algo_kwargs[key])
    if "policy_kwargs" in algo_kwargs:
        algo_kwargs["policy_kwargs"] = parse_policy_kwargs(algo_kwargs["policy_kwargs"])
    return AgentConfig(
        algo=algo,
        env=env,
        source=source,
        hyperparams=hyperparams,
        policy=hyperparams.get("policy", "MlpPolicy"),
        n_envs=int(hyperparams.get("n_envs", 1)),
        n_timesteps=int(hyperparams.get("n_timesteps", 100_000)),
        vec_normalize=parse_vec_normalize(hyperparams.get("vec_normalize")),
        env_kwargs=dict(hyperparams.get("env_kwargs") or {}),
        algo_kwargs=algo_kwargs,
    )
