"""Anchor strategies: when the frozen reference policy pi_ref is moved towards the actor (ARCHITECTURE.md section 3).

The anchor is a network with the actor's architecture (usually ``copy.deepcopy(actor)``, or a teacher
loaded by the caller) whose parameters never receive gradients. A strategy holds the two modules and is
told about two events by the algorithm:

- ``on_train_start()`` at the start of every ``train()`` call;
- ``after_gradient_step(kl)`` after every actor step, with the batch estimate of KL(pi_theta || pi_ref).

Each returns True when it changed the anchor, so the caller can count anchor updates (``num_updates``
counts them too). Parameters and buffers (e.g. normalisation statistics) are both part of the anchor.

- ``fixed``: never (the actor's initial weights, or a teacher the caller loaded into the anchor);
- ``on_policy``: hard copy of the actor at every ``on_train_start``;
- ``ema``: anchor <- (1 - rate) * anchor + rate * actor after every gradient step (default rate 0.01);
- ``kl_triggered``: hard copy when the KL estimate exceeds ``threshold`` (default 0.05 nats).

The strategy object only holds references: the anchor's weights live in the anchor module, which the
policy owns and saves.
"""

from __future__ import annotations

import torch
from torch import nn

from adpo_rl.checks import check_choice

ANCHOR_MODES = ("fixed", "on_policy", "ema", "kl_triggered")

# rate 0.01: the anchor lags the actor by about 100 gradient steps, twice SAC's critic-target horizon (tau 0.005).
DEFAULT_EMA_RATE = 0.01
# 0.05 nats: the upper end of the per-update KL that PPO-style trust regions allow (target_kl 0.01-0.05).
DEFAULT_KL_THRESHOLD = 0.05


def _state_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    # Gathered on every call, not cached: ``module.to(device)`` replaces buffer tensors.
    return [*module.named_parameters(), *module.named_buffers()]


class Anchor:
    """Base anchor strategy: holds the actor and its frozen anchor copy; never changes the anchor by itself.

    :param actor: the trained network (pi_theta).
    :param anchor: a network with the same parameter and buffer names and shapes (pi_ref); its
        parameters are set to ``requires_grad=False`` here.
    """

    mode: str = ""

    def __init__(self, actor: nn.Module, anchor: nn.Module) -> None:
        if not isinstance(actor, nn.Module) or not isinstance(anchor, nn.Module):
            raise ValueError(f"actor and anchor must be torch.nn.Module, got {type(actor).__name__}, {type(anchor).__name__}")
        if actor is anchor:
            raise ValueError("anchor must be a separate copy of the actor (e.g. copy.deepcopy(actor)), not the actor itself")
        actor_state, anchor_state = _state_tensors(actor), _state_tensors(anchor)
        actor_shapes = {name: tuple(t.shape) for name, t in actor_state}
        anchor_shapes = {name: tuple(t.shape) for name, t in anchor_state}
        if actor_shapes != anchor_shapes:
            mismatched = sorted(set(actor_shapes.items()) ^ set(anchor_shapes.items()))
            raise ValueError(f"anchor must have the actor's architecture; parameters/buffers that differ: {mismatched[:5]}")
        actor_ids = {id(t) for _, t in actor_state}
        if any(id(t) in actor_ids for _, t in anchor_state):
            raise ValueError("anchor shares parameters with the actor; pass a copy (e.g. copy.deepcopy(actor))")
        self.actor = actor
        self.anchor = anchor
        self.anchor.requires_grad_(False)
        self.num_updates = 0

    def _pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Matching (anchor, actor) tensors, in the same order."""
        actor_state = dict(_state_tensors(self.actor))
        anchor_tensors, actor_tensors = [], []
        for name, tensor in _state_tensors(self.anchor):
            anchor_tensors.append(tensor)
            actor_tensors.append(actor_state[name])
        return anchor_tensors, actor_tensors

    @torch.no_grad()
    def refresh(self) -> None:
        """Hard copy: anchor <- actor (parameters and buffers)."""
        anchor_tensors, actor_tensors = self._pairs()
        torch._foreach_copy_(anchor_tensors, actor_tensors)

    def _changed(self) -> bool:
        self.num_updates += 1
        return True

    def on_train_start(self) -> bool:
        """Called at the start of every ``train()`` call.

        :return: True if the anchor changed.
        """
        return False

    def after_gradient_step(self, kl: float) -> bool:
        """Called after every actor gradient step.

        :param kl: the batch estimate of KL(pi_theta || pi_ref).
        :return: True if the anchor changed.
        """
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class FixedAnchor(Anchor):
    """The anchor never changes: the actor's initial weights, or a teacher the caller loaded into it."""

    mode = "fixed"


class OnPolicyAnchor(Anchor):
    """The anchor is a hard copy of the actor taken at the start of every ``train()`` call."""

    mode = "on_policy"

    def on_train_start(self) -> bool:
        self.refresh()
        return self._changed()


class EmaAnchor(Anchor):
    """The anchor tracks the actor: anchor <- (1 - rate) * anchor + rate * actor after every gradient step.

    Floating-point parameters and buffers are averaged; other buffers (e.g. BatchNorm's integer step
    counter) are copied.

    :param actor: the trained network.
    :param anchor: its frozen copy.
    :param rate: the averaging rate in (0, 1]; 1 copies the actor after every step.
    """

    mode = "ema"

    def __init__(self, actor: nn.Module, anchor: nn.Module, rate: float = DEFAULT_EMA_RATE) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError(f"ema anchor rate must be a number in (0, 1], got {rate!r}")
        super().__init__(actor, anchor)
        self.rate = float(rate)

    @torch.no_grad()
    def after_gradient_step(self, kl: float) -> bool:
        anchor_tensors, actor_tensors = self._pairs()
        floating = [i for i, t in enumerate(anchor_tensors) if t.is_floating_point()]
        others = [i for i, t in enumerate(anchor_tensors) if not t.is_floating_point()]
        if floating:
            # lerp: anchor + rate * (actor - anchor), one fused kernel per device and dtype.
            torch._foreach_lerp_([anchor_tensors[i] for i in floating], [actor_tensors[i] for i in floating], self.rate)
        if others:
            torch._foreach_copy_([anchor_tensors[i] for i in others], [actor_tensors[i] for i in others])
        return self._changed()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate={self.rate})"


class KlTriggeredAnchor(Anchor):
    """The anchor is a hard copy of the actor taken whenever the batch KL(pi_theta || pi_ref) exceeds threshold.

    :param actor: the trained network.
    :param anchor: its frozen copy.
    :param threshold: KL level (nats) above which the anchor is refreshed, > 0.
    """

    mode = "kl_triggered"

    def __init__(self, actor: nn.Module, anchor: nn.Module, threshold: float = DEFAULT_KL_THRESHOLD) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
            raise ValueError(f"kl_triggered anchor threshold must be a number > 0, got {threshold!r}")
        super().__init__(actor, anchor)
        self.threshold = float(threshold)

    def after_gradient_step(self, kl: float | torch.Tensor) -> bool:
        # A NaN estimate compares False and leaves the anchor alone.
        if float(kl) > self.threshold:
            self.refresh()
            return self._changed()
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold})"


ANCHOR_CLASSES: dict[str, type[Anchor]] = {
    "fixed": FixedAnchor,
    "on_policy": OnPolicyAnchor,
    "ema": EmaAnchor,
    "kl_triggered": KlTriggeredAnchor,
}
_ANCHOR_KWARGS: dict[str, tuple[str, ...]] = {"fixed": (), "on_policy": (), "ema": ("rate",), "kl_triggered": ("threshold",)}


def make_anchor(mode: str, actor: nn.Module, anchor: nn.Module, **kwargs: float) -> Anchor:
    """Build the anchor strategy named ``mode``.

    :param mode: one of ``ANCHOR_MODES``: "fixed", "on_policy", "ema", "kl_triggered".
    :param actor: the trained network.
    :param anchor: its frozen copy (same architecture).
    :param kwargs: the strategy's options: ``rate`` for "ema", ``threshold`` for "kl_triggered".
    :return: the strategy.
    """
    check_choice("anchor mode", mode, ANCHOR_MODES)
    accepted = _ANCHOR_KWARGS[mode]
    unexpected = sorted(set(kwargs) - set(accepted))
    if unexpected:
        valid = ", ".join(map(repr, accepted)) or "none"
        raise ValueError(f"Unexpected anchor option(s) {unexpected} for anchor mode {mode!r}; accepted: {valid}")
    return ANCHOR_CLASSES[mode](actor, anchor, **kwargs)
