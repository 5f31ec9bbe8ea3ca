"""
Training throughput (environment steps per second, learning included) of ADPO against SB3's SAC and PPO on one env,
measured side by side in one process, and how ADPO's cost grows with the group size K.

    python benchmarks/throughput.py --env Pendulum-v1 --group-sizes 4 8 16 32 64 --steps 1000 --rounds 3
    python benchmarks/throughput.py --env Acrobot-v1 --group-sizes 16 --group-batch-sizes 64 256  # states per actor step
    python benchmarks/throughput.py --env LunarLander-v3 --group-sizes 16 --critic-layer-norm  # LayerNorm critics too
    python benchmarks/throughput.py --env LunarLanderContinuous-v3 --entries  # the tuned yml entries, per env step

Every contender first fills its buffer (``learning_starts`` steps, or PPO's first rollout; not timed), then trains for
``--steps`` steps (PPO for whole rollouts: the steps it really took are counted); contenders are timed in interleaved
rounds and the best round is kept. With ``--entries`` the contenders are each algorithm's entry of
agents/hyperparams (its own networks, group size, gradient steps per environment step, normalisation), warm-up shortened
to 1,000 steps, instead of the class defaults at each K. Ratios are the numbers to quote, not the
absolute steps/s, and only from an otherwise idle machine: on Acrobot-v1 a busy one read 22 vs 21 steps/s for
group_batch_size 64 vs 256, an idle one 66 vs 53.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from train_one import cpu_model

from adpo_rl import ADPO
from adpo_rl.agents import make_model, resolve_env

LEARNING_STARTS = 1000


def has_box_actions(env_id: str, **env_kwargs) -> bool:
    """
    :param env_id: gymnasium id
    :param env_kwargs: arguments of ``gym.make``
    :return: whether the env's actions are a ``Box`` (SAC is timed only there)
    """
    with gym.make(env_id, **env_kwargs) as env:
        return isinstance(env.action_space, spaces.Box)


def build_contenders(
    env_id: str,
    group_sizes: list[int],
    device: str,
    group_batch_sizes: list[int] | None = None,
    critic_layer_norm: bool = False,
) -> dict[str, Callable[[], BaseAlgorithm]]:
    """
    Factories of the models to time: ADPO at each group size (and states per actor step), SAC (Box actions only)
    and PPO.

    :param env_id: gymnasium id
    :param group_sizes: ADPO group sizes K
    :param device: torch device
    :param group_batch_sizes: ADPO ``group_batch_size`` values to time at each K (``None``: the class default only)
    :param critic_layer_norm: also time each ADPO setting with ``policy_kwargs=dict(critic_layer_norm=True)``
    :return: label -> model factory
    """
    contenders: dict[str, Callable[[], BaseAlgorithm]] = {}
    for k in group_sizes:
        for states in group_batch_sizes or [None]:
            for layer_norm in (False, True) if critic_layer_norm else (False,):
                label = f"adpo K={k}" + (f" states={states}" if states is not None else "")
                extra: dict = {"group_batch_size": states} if states is not None else {}
                if layer_norm:
                    label += " critic_layer_norm"
                    extra["policy_kwargs"] = {"critic_layer_norm": True}
                contenders[label] = lambda k=k, extra=extra: ADPO(
                    "MlpPolicy", env_id, group_size=k, learning_starts=LEARNING_STARTS, seed=0, device=device, **extra
                )
    if has_box_actions(env_id):
        contenders["sac"] = lambda: SAC("MlpPolicy", env_id, learning_starts=LEARNING_STARTS, seed=0, device=device)
    contenders["ppo"] = lambda: PPO("MlpPolicy", env_id, seed=0, device=device)
    return contenders


def build_entry_contenders(env_id: str, device: str) -> dict[str, Callable[[], BaseAlgorithm]]:
    """
    Factories of each algorithm's tuned entry (agents/hyperparams/<algo>.yml) on ``env_id``: ADPO, SAC (Box actions
    only) and PPO, with the off-policy warm-up shortened to ``LEARNING_STARTS`` steps (it is not timed).

    :param env_id: a gymnasium id (with its ``+noise`` suffix, if any)
    :param device: torch device
    :return: label -> model factory
    """
    contenders: dict[str, Callable[[], BaseAlgorithm]] = {}
    spec = resolve_env(env_id)
    for algo in ("adpo", "sac", "ppo") if has_box_actions(spec.env_id, **spec.env_kwargs) else ("adpo", "ppo"):
        overrides = {"learning_starts": LEARNING_STARTS} if algo != "ppo" else None
        contenders[f"{algo} entry"] = lambda algo=algo, overrides=overrides: make_model(
            algo, env_id, seed=0, device=device, overrides=overrides
        )
    return contenders


def warm_up_steps(model: BaseAlgorithm) -> int:
    """
    :param model: a freshly built model
    :return: the untimed steps that fill an off-policy buffer, or PPO's first rollout (all its environment copies)
    """
    return model.n_steps * model.n_envs if isinstance(model, PPO) else LEARNING_STARTS


def time_training(model: BaseAlgorithm, steps: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """
    Steps per second of ``model.learn(steps)`` continuing from where the model is. The steps counted are those the
    model took: PPO collects whole rollouts, more than ``steps`` when its rollout is longer.

    :param model: a model whose warm-up is done
    :param steps: environment steps to ask for
    :param clock: seconds, read before and after training
    :return: steps per second
    """
    start_steps = model.num_timesteps
    start = clock()
    model.learn(steps, reset_num_timesteps=False)
    return (model.num_timesteps - start_steps) / (clock() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--group-sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument(
        "--group-batch-sizes",
        type=int,
        nargs="+",
        default=None,
        help="ADPO group_batch_size values (states scored per actor step) to time at each K; default: the class's",
    )
    parser.add_argument(
        "--critic-layer-norm", action="store_true", help="also time each ADPO setting with LayerNorm in its critics"
    )
    parser.add_argument(
        "--entries",
        action="store_true",
        help="time each algorithm's tuned entry of agents/hyperparams instead of the class defaults at each K",
    )
    parser.add_argument("--steps", type=int, default=1000, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not th.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")  # SB3 would silently time the CPU instead
    th.set_num_threads(args.torch_threads)

    if args.entries:
        contenders = build_entry_contenders(args.env, args.device)
    else:
        contenders = build_contenders(args.env, args.group_sizes, args.device, args.group_batch_sizes, args.critic_layer_norm)
    models = {}
    for label, factory in contenders.items():
        model = factory()
        model.learn(warm_up_steps(model))
        models[label] = model
    best = dict.fromkeys(models, 0.0)
    for _ in range(args.rounds):
        for label, model in models.items():
            best[label] = max(best[label], time_training(model, args.steps))

    reference_label = next(label for label in ("sac", "sac entry", "ppo", "ppo entry") if label in best)
    reference = best[reference_label]
    machine = cpu_model() if args.device == "cpu" else f"{th.cuda.get_device_name()}, {cpu_model()}"
    print(
        f"{args.env}: training steps/s, best of {args.rounds} rounds of {args.steps} steps, device {args.device} ({machine})"
    )
    print(f"| contender | steps/s | vs {reference_label} |")
    print("|---|---:|---:|")
    for label, value in best.items():
        print(f"| {label} | {value:,.0f} | {value / reference:.2f}x |")


if __name__ == "__main__":
    main()
