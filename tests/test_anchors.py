"""Anchor strategies (ARCHITECTURE.md section 3): when the frozen reference policy moves, and by how much."""

import copy

import pytest
import torch
from torch import nn

from adpo_rl.anchors import (
    ANCHOR_MODES,
    DEFAULT_EMA_RATE,
    DEFAULT_KL_THRESHOLD,
    Anchor,
    EmaAnchor,
    FixedAnchor,
    KlTriggeredAnchor,
    OnPolicyAnchor,
    make_anchor,
)

torch.set_num_threads(1)


def _actor(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # BatchNorm brings float buffers (running stats) and an integer one (num_batches_tracked).
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 3))


def _pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    actor = _actor(seed)
    return actor, copy.deepcopy(actor)


def _train_step(actor: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    inputs = torch.randn(8, 4, device=next(actor.parameters()).device)
    loss = actor(inputs).square().mean()  # also updates BatchNorm's running stats
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in module.state_dict().items()}


def _assert_equal_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def _differs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(a[name], b[name]) for name in a)


def test_factory_builds_every_mode_and_freezes_the_anchor():
    classes = {"fixed": FixedAnchor, "on_policy": OnPolicyAnchor, "ema": EmaAnchor, "kl_triggered": KlTriggeredAnchor}
    assert set(ANCHOR_MODES) == set(classes)
    for mode in ANCHOR_MODES:
        actor, anchor = _pair()
        strategy = make_anchor(mode, actor, anchor)
        assert isinstance(strategy, classes[mode])
        assert strategy.mode == mode
        assert all(not p.requires_grad for p in anchor.parameters())
        assert all(p.requires_grad for p in actor.parameters())
    assert make_anchor("ema", *_pair()).rate == DEFAULT_EMA_RATE
    assert make_anchor("kl_triggered", *_pair()).threshold == DEFAULT_KL_THRESHOLD
    assert make_anchor("ema", *_pair(), rate=0.2).rate == 0.2
    assert make_anchor("kl_triggered", *_pair(), threshold=0.3).threshold == 0.3


def test_fixed_anchor_never_changes():
    actor, anchor = _pair()
    teacher = _actor(seed=1)
    anchor.load_state_dict(teacher.state_dict())  # a teacher loaded by the caller
    strategy = make_anchor("fixed", actor, anchor)
    before = _state(anchor)
    optimizer = torch.optim.Adam(actor.parameters(), lr=1e-2)
    changes = 0
    for _ in range(5):
        changes += strategy.on_train_start()
        for _ in range(20):
            _train_step(actor, optimizer)
            changes += strategy.after_gradient_step(kl=10.0)
    assert changes == 0
    assert strategy.num_updates == 0
    _assert_equal_state(_state(anchor), before)
    _assert_equal_state(_state(anchor), _state(teacher))
    assert _differs(_state(actor), before)


def test_on_policy_anchor_equals_actor_after_each_refresh():
    actor, anchor = _pair()
    strategy = make_anchor("on_policy", actor, anchor)
    optimizer = torch.optim.Adam(actor.parameters(), lr=1e-2)
    for call in range(1, 4):
        for _ in range(5):
            _train_step(actor, optimizer)
            assert strategy.after_gradient_step(kl=10.0) is False
        assert _differs(_state(actor), _state(anchor))
        assert strategy.on_train_start() is True
        _assert_equal_state(_state(anchor), _state(actor))
        assert strategy.num_updates == call
    # The copy is a copy: training the actor further leaves the anchor where it was.
    snapshot = _state(anchor)
    _train_step(actor, optimizer)
    _assert_equal_state(_state(anchor), snapshot)
    assert all(not p.requires_grad for p in anchor.parameters())


@pytest.mark.parametrize("rate", [0.01, 0.3, 1.0])
def test_ema_anchor_moves_by_exactly_the_rate(rate):
    actor, anchor = _pair()
    strategy = make_anchor("ema", actor, anchor, rate=rate)
    optimizer = torch.optim.Adam(actor.parameters(), lr=1e-2)
    assert strategy.on_train_start() is False
    for step in range(1, 6):
        _train_step(actor, optimizer)
        old, new_actor = _state(anchor), _state(actor)
        assert strategy.after_gradient_step(kl=0.0) is True
        assert strategy.num_updates == step
        now = _state(anchor)
        for name, value in now.items():
            if value.is_floating_point():
                torch.testing.assert_close(value, (1 - rate) * old[name] + rate * new_actor[name], msg=name)
            else:  # integer buffers are copied
                assert torch.equal(value, new_actor[name]), name
        assert _differs(now, old)


def test_kl_triggered_anchor_copies_only_past_the_threshold_and_counts():
    actor, anchor = _pair()
    strategy = make_anchor("kl_triggered", actor, anchor, threshold=0.1)
    optimizer = torch.optim.Adam(actor.parameters(), lr=1e-2)
    kls = [0.0, 0.05, 0.1, 0.11, 0.02, float("nan"), 0.5, torch.tensor(0.2), torch.tensor(0.09)]
    expected_copies = [False, False, False, True, False, False, True, True, False]
    updates = 0
    for kl, copies in zip(kls, expected_copies, strict=True):
        _train_step(actor, optimizer)
        before = _state(anchor)
        assert strategy.on_train_start() is False
        changed = strategy.after_gradient_step(kl)
        assert changed is copies, kl
        updates += changed
        if copies:
            _assert_equal_state(_state(anchor), _state(actor))
        else:
            _assert_equal_state(_state(anchor), before)
    assert updates == strategy.num_updates == 3


def test_refresh_copies_parameters_and_buffers():
    actor, anchor = _pair()
    strategy = Anchor(actor, anchor)
    _train_step(actor, torch.optim.SGD(actor.parameters(), lr=0.1))
    assert _differs(_state(actor), _state(anchor))
    strategy.refresh()
    _assert_equal_state(_state(anchor), _state(actor))
    assert anchor[1].num_batches_tracked.item() == 1


def test_anchor_receives_no_gradient_through_a_loss():
    actor, anchor = _pair()
    make_anchor("ema", actor, anchor)
    x = torch.randn(8, 4)
    (actor(x) - anchor(x)).square().mean().backward()
    assert all(p.grad is None for p in anchor.parameters())
    assert all(p.grad is not None for p in actor.parameters())


def test_bad_inputs_raise_value_error():
    actor, anchor = _pair()
    with pytest.raises(ValueError, match=r"Unknown anchor mode 'polyak'.*'fixed', 'on_policy', 'ema', 'kl_triggered'"):
        make_anchor("polyak", actor, anchor)
    for rate in (0.0, -0.1, 1.5, "0.1", True):
        with pytest.raises(ValueError, match=r"rate must be a number in \(0, 1\]"):
            make_anchor("ema", actor, anchor, rate=rate)
    for threshold in (0.0, -1.0, None):
        with pytest.raises(ValueError, match=r"threshold must be a number > 0"):
            make_anchor("kl_triggered", actor, anchor, threshold=threshold)
    with pytest.raises(ValueError, match=r"Unexpected anchor option\(s\) \['rate'\] for anchor mode 'fixed'; accepted: none"):
        make_anchor("fixed", actor, anchor, rate=0.1)
    with pytest.raises(ValueError, match=r"\['threshold'\] for anchor mode 'ema'; accepted: 'rate'"):
        make_anchor("ema", actor, anchor, threshold=0.1)
    with pytest.raises(ValueError, match=r"not the actor itself"):
        make_anchor("on_policy", actor, actor)
    with pytest.raises(ValueError, match=r"shares parameters"):
        make_anchor("on_policy", actor, nn.Sequential(*actor))
    with pytest.raises(ValueError, match=r"actor's architecture"):
        make_anchor("on_policy", actor, nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)))
    with pytest.raises(ValueError, match=r"must be torch.nn.Module"):
        make_anchor("fixed", actor, {"weight": torch.zeros(1)})


def test_strategies_follow_modules_moved_after_construction():
    # module.to() replaces buffer tensors: the strategy must act on the module's current tensors.
    actor, anchor = _pair()
    strategy = make_anchor("ema", actor, anchor, rate=0.5)
    actor.double()
    anchor.double()
    _train_step_double = actor(torch.randn(8, 4, dtype=torch.float64)).sum()  # updates running stats
    del _train_step_double
    old, new_actor = _state(anchor), _state(actor)
    strategy.after_gradient_step(0.0)
    torch.testing.assert_close(anchor[1].running_mean, 0.5 * old["1.running_mean"] + 0.5 * new_actor["1.running_mean"])
    strategy.refresh()
    _assert_equal_state(_state(anchor), _state(actor))


def test_on_policy_and_kl_triggered_in_a_training_loop_count_updates():
    # The counting pattern the algorithm uses: train() calls with several gradient steps each.
    actor, anchor = _pair()
    on_policy = make_anchor("on_policy", actor, anchor)
    optimizer = torch.optim.Adam(actor.parameters(), lr=1e-2)
    anchor_updates = 0
    for _ in range(4):
        anchor_updates += on_policy.on_train_start()
        for _ in range(3):
            _train_step(actor, optimizer)
            anchor_updates += on_policy.after_gradient_step(kl=1.0)
    assert anchor_updates == on_policy.num_updates == 4


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_strategies_on_cuda():
    actor, anchor = _pair()
    actor.cuda()
    anchor.cuda()
    for mode in ANCHOR_MODES:
        strategy = make_anchor(mode, actor, anchor)
        strategy.on_train_start()
        strategy.after_gradient_step(torch.tensor(1.0, device="cuda"))
    strategy = make_anchor("ema", actor, anchor, rate=1.0)
    _train_step(actor, torch.optim.SGD(actor.parameters(), lr=0.1))
    strategy.after_gradient_step(0.0)
    _assert_equal_state(_state(anchor), _state(actor))
