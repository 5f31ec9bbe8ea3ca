"""The math of adpo_rl.losses (ARCHITECTURE.md section 2): special cases, gradients, minimisers, numerics."""

import math

import pytest
import torch
import torch.nn.functional as F

from adpo_rl.losses import (
    adaptive_temperature,
    anchored_logits,
    group_advantages,
    group_targets,
    grpo_loss,
    listwise_loss,
    pairwise_loss,
    plackett_luce_loss,
)

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_torch():
    # Tests that draw with torch.randn see the same numbers whatever ran before them.
    torch.manual_seed(0)


HUGE_SCORES = [
    [1e8, 1e8 + 1e3, 1e8 - 5e2, 1e8],
    [-1e8, -1e8 + 1e3, -1e8 - 5e2, -1e8],
    [1e8, -1e8, 0.0, 3.0],
    [7.0, 7.0, 7.0, 7.0],
    [-1e8, -1e8, -1e8, -1e8],
    [1e30, -1e30, 1e-30, 0.0],
    [3e38, -3e38, 1.0, 0.0],  # near float32's largest number: S_i - S_j overflows unless handled
]


def _log_probs(*shape: int, seed: int = 0, requires_grad: bool = False) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    logp = torch.log_softmax(torch.randn(*shape, generator=generator, dtype=torch.float64), dim=-1)
    return logp.requires_grad_(requires_grad)


def _dpo(lw, lw_ref, ll, ll_ref, temperature):
    return -F.logsigmoid(((lw - lw_ref) - (ll - ll_ref)) / temperature)


# --- special cases -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.1, 1.0, 3.0])
def test_k2_hard_target_fixed_anchor_is_dpo(temperature):
    logp = _log_probs(16, 2, seed=1)
    logp_ref = _log_probs(16, 2, seed=2)
    # Candidate 0 is the winner in even rows, candidate 1 in odd rows.
    scores = torch.zeros(16, 2, dtype=torch.float64)
    scores[0::2, 0] = 1.0
    scores[1::2, 1] = 1.0
    w = scores.argmax(-1, keepdim=True)
    lose = 1 - w
    expected = _dpo(logp.gather(-1, w), logp_ref.gather(-1, w), logp.gather(-1, lose), logp_ref.gather(-1, lose), temperature)
    expected = expected.squeeze(-1)

    target = group_targets(scores, kind="hard")
    listwise = listwise_loss(logp, logp_ref, target, temperature, reduction="none")
    pairwise = pairwise_loss(logp, logp_ref, scores, temperature, labels="hard", reduction="none")
    plackett_luce = plackett_luce_loss(logp, logp_ref, scores, temperature, reduction="none")
    torch.testing.assert_close(listwise, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pairwise, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(plackett_luce, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(listwise_loss(logp, logp_ref, target, temperature), expected.mean())


def test_uniform_anchor_one_hot_target_is_cross_entropy():
    logits = torch.randn(32, 6, dtype=torch.float64)
    labels = torch.randint(0, 6, (32,))
    logp = torch.log_softmax(logits, dim=-1)
    uniform = torch.full_like(logp, -math.log(6))
    target = F.one_hot(labels, 6).to(logp.dtype)
    torch.testing.assert_close(listwise_loss(logp, uniform, target), F.cross_entropy(logits, labels))


def test_uniform_anchor_soft_q_target_is_max_entropy_policy():
    # Minimiser pi ∝ q^temperature; with temperature 1 and q = softmax(Q / alpha) it is the max-ent policy.
    q_values = torch.randn(6, dtype=torch.float64)
    alpha = 0.5
    target = torch.softmax(q_values / alpha, dim=-1)
    logits = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [logits], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = listwise_loss(torch.log_softmax(logits, -1), torch.full((6,), -math.log(6), dtype=torch.float64), target)
        loss.backward()
        return loss

    optimizer.step(closure)
    torch.testing.assert_close(torch.softmax(logits, -1), target, rtol=1e-6, atol=1e-8)


# --- gradients and minimisers --------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.25, 1.0, 2.0])
def test_listwise_gradient_is_softmax_minus_target_over_temperature(temperature):
    logp = _log_probs(8, 5, seed=3, requires_grad=True)
    logp_ref = _log_probs(8, 5, seed=4)
    target = group_targets(torch.randn(8, 5, dtype=torch.float64), kind="soft", beta=0.7)
    listwise_loss(logp, logp_ref, target, temperature, reduction="sum").backward()
    u = anchored_logits(logp.detach(), logp_ref, temperature)
    torch.testing.assert_close(logp.grad, (torch.softmax(u, -1) - target) / temperature)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_listwise_minimiser_is_anchor_times_target_to_the_temperature(temperature):
    k = 5
    logp_ref = _log_probs(3, k, seed=5)
    scores = torch.randn(3, k, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    target = group_targets(scores, kind="soft")
    logits = torch.zeros(3, k, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [logits], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = listwise_loss(torch.log_softmax(logits, -1), logp_ref, target, temperature, reduction="sum")
        loss.backward()
        return loss

    optimizer.step(closure)
    expected = logp_ref.exp() * target.pow(temperature)
    expected = expected / expected.sum(-1, keepdim=True)
    torch.testing.assert_close(torch.softmax(logits, -1), expected, rtol=1e-6, atol=1e-8)


def test_listwise_reductions():
    logp, logp_ref = _log_probs(4, 3, 5, seed=6), _log_probs(4, 3, 5, seed=7)
    target = group_targets(torch.randn(4, 3, 5))
    per_group = listwise_loss(logp, logp_ref, target, reduction="none")
    assert per_group.shape == (4, 3)
    torch.testing.assert_close(listwise_loss(logp, logp_ref, target, reduction="sum"), per_group.sum())
    torch.testing.assert_close(listwise_loss(logp, logp_ref, target), per_group.mean())
    # Per-state temperature, shape [..., 1].
    temperature = torch.full((4, 3, 1), 2.0, dtype=torch.float64)
    torch.testing.assert_close(listwise_loss(logp, logp_ref, target, temperature), listwise_loss(logp, logp_ref, target, 2.0))


# --- targets -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["soft", "hard", "kde"])
def test_targets_are_distributions(kind):
    q = group_targets(torch.randn(7, 3, 9), kind=kind, beta=0.5)
    assert q.shape == (7, 3, 9)
    assert (q >= 0).all()
    torch.testing.assert_close(q.sum(-1), torch.ones(7, 3))


def test_soft_target_formula():
    scores = torch.tensor([[1.0, 2.0, 4.0, -3.0]], dtype=torch.float64)
    z = (scores - scores.mean(-1, keepdim=True)) / (scores.std(-1, unbiased=False, keepdim=True) + 1e-6)
    torch.testing.assert_close(group_targets(scores, "soft", beta=0.3), torch.softmax(z / 0.3, -1))
    torch.testing.assert_close(group_targets(scores, "soft", beta=0.3, normalize="none"), torch.softmax(scores / 0.3, -1))
    torch.testing.assert_close(group_advantages(scores), z)


def test_targets_ignore_gradients():
    scores = torch.randn(4, 5, requires_grad=True)
    for kind in ("soft", "hard", "kde"):
        assert not group_targets(scores, kind).requires_grad


def test_hard_target_splits_ties_evenly():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, 1.0, 5.0, 5.0]])
    expected = torch.tensor([[0.0, 0.5, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25], [1 / 3, 0.0, 1 / 3, 1 / 3]])
    torch.testing.assert_close(group_targets(scores, "hard"), expected)


@pytest.mark.parametrize("kind", ["soft", "kde"])
def test_targets_shift_and_scale_invariant(kind):
    scores = torch.randn(6, 8, dtype=torch.float64)
    q = group_targets(scores, kind)
    torch.testing.assert_close(group_targets(scores + 1e4, kind), q)
    torch.testing.assert_close(group_targets(scores * 250.0 - 3.0, kind), q, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(group_advantages(scores + 1e4), group_advantages(scores))
    torch.testing.assert_close(group_advantages(scores * 250.0), group_advantages(scores), rtol=1e-5, atol=1e-7)


def test_kde_target_monotone_in_score():
    scores = torch.randn(20, 10, dtype=torch.float64)
    q = group_targets(scores, "kde")
    order = scores.argsort(-1)
    assert (q.gather(-1, order).diff(dim=-1) > 0).all()


@pytest.mark.parametrize("outlier", [1e6, -1e6])
def test_kde_target_barely_moved_by_an_outlier(outlier):
    generator = torch.Generator().manual_seed(0)
    clean = torch.randn(8, generator=generator, dtype=torch.float64)
    corrupted = clean.clone()
    corrupted[0] = outlier

    def moved(kind: str) -> float:
        # Total variation between the targets restricted (and renormalised) to the 7 untouched candidates.
        before, after = group_targets(clean, kind)[1:], group_targets(corrupted, kind)[1:]
        return 0.5 * (before / before.sum() - after / after.sum()).abs().sum().item()

    assert moved("kde") < 0.1
    assert moved("kde") < moved("soft") / 3
    # Soft targets collapse to nearly uniform over the untouched candidates; kde keeps their ranking.
    q = group_targets(corrupted, "kde")[1:]
    assert (q.gather(-1, clean[1:].argsort()).diff() > 0).all()


# --- numerics ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_everything_finite_for_huge_and_constant_scores(dtype):
    scores = torch.tensor(HUGE_SCORES, dtype=dtype)
    logp_ref = _log_probs(len(HUGE_SCORES), 4, seed=8).to(dtype)
    for kind in ("soft", "hard", "kde"):
        for normalize in ("zscore", "center", "none"):
            q = group_targets(scores, kind, beta=0.1, normalize=normalize)
            assert torch.isfinite(q).all(), (kind, normalize)
            torch.testing.assert_close(q.sum(-1), torch.ones(len(HUGE_SCORES), dtype=dtype))
            # All-equal groups get the uniform target.
            torch.testing.assert_close(q[3:5], torch.full((2, 4), 0.25, dtype=dtype))
    losses = {
        "listwise_kde": lambda lp: listwise_loss(lp, logp_ref, group_targets(scores, "kde"), 0.5),
        "listwise_soft": lambda lp: listwise_loss(lp, logp_ref, group_targets(scores, "soft"), 0.5),
        "listwise_raw": lambda lp: listwise_loss(lp, logp_ref, group_targets(scores, "soft", normalize="none"), 0.5),
        "pairwise_soft": lambda lp: pairwise_loss(lp, logp_ref, scores, 0.5),
        "pairwise_raw": lambda lp: pairwise_loss(lp, logp_ref, scores, 0.5, beta=0.01, normalize="none"),
        "pairwise_hard": lambda lp: pairwise_loss(lp, logp_ref, scores, 0.5, labels="hard"),
        "plackett_luce": lambda lp: plackett_luce_loss(lp, logp_ref, scores, 0.5),
        "grpo": lambda lp: grpo_loss(lp, logp_ref, scores),
    }
    for name, loss_fn in losses.items():
        logp = _log_probs(len(HUGE_SCORES), 4, seed=9).to(dtype).requires_grad_(True)
        loss = loss_fn(logp)
        loss.backward()
        assert torch.isfinite(loss), name
        assert torch.isfinite(logp.grad).all(), name
    advantages = group_advantages(scores)
    assert torch.isfinite(advantages).all()
    assert (advantages[3:5] == 0).all()


def test_huge_scores_give_the_same_soft_target_as_their_offsets():
    scores = torch.tensor([[1e8, 1e8 + 1e3, 1e8 - 5e2, 1e8]], dtype=torch.float64)
    torch.testing.assert_close(group_targets(scores), group_targets(scores - 1e8))


def test_integer_scores_are_accepted():
    q = group_targets(torch.tensor([[0, 1, 1, 3]]))
    assert q.dtype == torch.get_default_dtype()
    assert q.argmax().item() == 3


# --- pairwise, Plackett-Luce, GRPO ---------------------------------------------------------------------------


def test_pairwise_soft_matches_explicit_pair_loop():
    logp, logp_ref = _log_probs(3, 4, seed=10), _log_probs(3, 4, seed=11)
    scores = torch.randn(3, 4, dtype=torch.float64)
    temperature, beta = 0.7, 0.5
    u = (logp - logp_ref) / temperature
    s = group_advantages(scores)
    expected = torch.zeros(3, dtype=torch.float64)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    for i, j in pairs:
        y = torch.sigmoid((s[:, i] - s[:, j]) / beta)
        d = u[:, i] - u[:, j]
        expected -= y * torch.log(torch.sigmoid(d)) + (1 - y) * torch.log(torch.sigmoid(-d))
    expected /= len(pairs)
    got = pairwise_loss(logp, logp_ref, scores, temperature, beta=beta, reduction="none")
    torch.testing.assert_close(got, expected)


def test_pairwise_hard_ties_get_half_labels():
    logp, logp_ref = _log_probs(1, 2, seed=12), _log_probs(1, 2, seed=13)
    d = (logp - logp_ref)[0, 0] - (logp - logp_ref)[0, 1]
    expected = -0.5 * (F.logsigmoid(d) + F.logsigmoid(-d))
    torch.testing.assert_close(pairwise_loss(logp, logp_ref, torch.ones(1, 2), labels="hard"), expected)


def test_plackett_luce_matches_explicit_product_and_top_k():
    u = torch.tensor([[0.3, -1.2, 2.0, 0.5]], dtype=torch.float64)
    scores = torch.tensor([[1.0, 4.0, 2.0, 3.0]])  # ranking: 1, 3, 2, 0
    ranking = [1, 3, 2, 0]
    terms = [u[0, ranking[r]] - torch.logsumexp(u[0, ranking[r:]], 0) for r in range(4)]
    zeros = torch.zeros_like(u)
    torch.testing.assert_close(plackett_luce_loss(u, zeros, scores), -sum(terms))
    torch.testing.assert_close(plackett_luce_loss(u, zeros, scores, top_k=1), -terms[0])
    torch.testing.assert_close(plackett_luce_loss(u, zeros, scores, top_k=2), -(terms[0] + terms[1]))
    # Top-1 Plackett-Luce is the listwise loss with a hard target.
    torch.testing.assert_close(
        plackett_luce_loss(u, zeros, scores, top_k=1), listwise_loss(u, zeros, group_targets(scores, "hard").double())
    )


def test_grpo_loss_hand_computed():
    logp_anchor = torch.log(torch.tensor([[0.25, 0.25, 0.5]], dtype=torch.float64))
    logp = torch.log(torch.tensor([[0.5, 0.2, 0.3]], dtype=torch.float64))
    scores = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    # ratios 2.0, 0.8, 0.6; population std of (1, 0, -1) is sqrt(2/3), so A = (1.2247, 0, -1.2247) (eps 0).
    a = 1 / math.sqrt(2 / 3)
    # i=0: min(2*a, 1.2*a) = 1.2a; i=1: 0; i=2: A<0, min(0.6*-a, 0.8*-a) = -0.8a.
    expected = -(1.2 * a + 0.0 - 0.8 * a) / 3
    got = grpo_loss(logp, logp_anchor, scores, clip_range=0.2, eps=0.0)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_grpo_gradient_vanishes_when_clipped():
    logp_anchor = torch.zeros(1, 2, dtype=torch.float64)
    logp = torch.tensor([[math.log(2.0), math.log(0.5)]], dtype=torch.float64, requires_grad=True)
    grpo_loss(logp, logp_anchor, torch.tensor([[1.0, 0.0]])).backward()
    # Both ratios are outside [0.8, 1.2] in the direction their advantage pushes: no gradient.
    assert (logp.grad == 0).all()


# --- adaptive temperature ------------------------------------------------------------------------------------


def test_adaptive_temperature_formula_floats_and_tensors():
    assert adaptive_temperature(1.0, 0.0, 1.0) == pytest.approx(1.0)
    assert adaptive_temperature(1.0, 1.0, 0.0, a=0.5, b=0.5) == pytest.approx(1.5)
    assert adaptive_temperature(2.0, 0.2, 0.4, a=1.0, b=2.0) == pytest.approx(2.0 * (1 + 0.2 + 2.0 * 0.8 * 0.6))
    assert adaptive_temperature(1.0, 1.0, 0.0, a=100.0, t_max=3.0) == pytest.approx(3.0)
    assert adaptive_temperature(1e-4, 0.0, 1.0, t_min=0.01) == pytest.approx(0.01)
    h = torch.tensor([0.0, 0.5, 1.0])
    r = torch.tensor([1.0, 0.5, 0.0])
    t = adaptive_temperature(1.0, h, r, a=0.5, b=0.5)
    assert isinstance(t, torch.Tensor)
    torch.testing.assert_close(t, torch.tensor([1.0, 1.375, 1.5]))


# --- errors a user can cause ---------------------------------------------------------------------------------


def test_bad_arguments_raise_value_error_naming_value_and_choices():
    logp, logp_ref, scores = _log_probs(2, 3), _log_probs(2, 3, seed=1), torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"Unknown kind 'gaussian'.*'soft', 'hard', 'kde'"):
        group_targets(scores, kind="gaussian")
    with pytest.raises(ValueError, match=r"Unknown normalize 'minmax'.*'zscore'"):
        group_targets(scores, normalize="minmax")
    with pytest.raises(ValueError, match=r"Unknown normalize 'minmax'"):
        group_advantages(scores, normalize="minmax")
    with pytest.raises(ValueError, match=r"beta must be > 0, got 0"):
        group_targets(scores, beta=0.0)
    with pytest.raises(ValueError, match=r"beta must be > 0, got -1"):
        pairwise_loss(logp, logp_ref, scores, beta=-1.0)
    with pytest.raises(ValueError, match=r"temperature must be > 0, got 0"):
        listwise_loss(logp, logp_ref, group_targets(scores), temperature=0.0)
    with pytest.raises(ValueError, match=r"temperature must be > 0"):
        anchored_logits(logp, logp_ref, torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"Unknown reduction 'avg'.*'mean', 'sum', 'none'"):
        listwise_loss(logp, logp_ref, group_targets(scores), reduction="avg")
    with pytest.raises(ValueError, match=r"Unknown labels 'binary'.*'soft', 'hard'"):
        pairwise_loss(logp, logp_ref, scores, labels="binary")
    with pytest.raises(ValueError, match=r"at least 2 candidates, got K=1"):
        pairwise_loss(logp[:, :1], logp_ref[:, :1], scores[:, :1])
    with pytest.raises(ValueError, match=r"top_k must be an int in \[1, K=3\].*got 4"):
        plackett_luce_loss(logp, logp_ref, scores, top_k=4)
    with pytest.raises(ValueError, match=r"clip_range must be > 0"):
        grpo_loss(logp, logp_ref, scores, clip_range=0.0)
    with pytest.raises(ValueError, match=r"target has shape \(2, 2\)"):
        listwise_loss(logp, logp_ref, torch.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"t0 must be > 0"):
        adaptive_temperature(0.0, 0.5, 0.5)
    with pytest.raises(ValueError, match=r"t_max must be >= t_min"):
        adaptive_temperature(1.0, 0.5, 0.5, t_min=2.0, t_max=1.0)


# --- further properties a caller relies on -------------------------------------------------------------------


def test_losses_invariant_to_a_per_group_shift_of_the_log_probs():
    # Anchored logits only matter up to a constant per group: e.g. an unnormalised student or anchor.
    logp, logp_ref = _log_probs(5, 4, seed=14), _log_probs(5, 4, seed=15)
    scores = torch.randn(5, 4, dtype=torch.float64)
    shift = torch.randn(5, 1, dtype=torch.float64) * 10
    target = group_targets(scores)
    for loss_fn in (
        lambda lp, lr: listwise_loss(lp, lr, target, 0.5),
        lambda lp, lr: pairwise_loss(lp, lr, scores, 0.5),
        lambda lp, lr: plackett_luce_loss(lp, lr, scores, 0.5),
    ):
        torch.testing.assert_close(loss_fn(logp + shift, logp_ref), loss_fn(logp, logp_ref))
        torch.testing.assert_close(loss_fn(logp, logp_ref - shift), loss_fn(logp, logp_ref))


def test_anchor_broadcasts_over_the_batch():
    logp = _log_probs(6, 4, seed=16)
    uniform = torch.full((4,), -math.log(4), dtype=torch.float64)
    target = group_targets(torch.randn(6, 4, dtype=torch.float64))
    torch.testing.assert_close(listwise_loss(logp, uniform, target), listwise_loss(logp, uniform.expand(6, 4), target))


def test_groups_of_one_are_harmless():
    scores = torch.tensor([[3.0], [-1e8]])
    for kind in ("soft", "hard", "kde"):
        torch.testing.assert_close(group_targets(scores, kind), torch.ones(2, 1))
    assert (group_advantages(scores) == 0).all()
    logp = torch.zeros(2, 1, requires_grad=True)
    loss = listwise_loss(logp, torch.zeros(2, 1), group_targets(scores)) + plackett_luce_loss(logp, torch.zeros(2, 1), scores)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(logp.grad).all()


def test_soft_target_sharpens_as_beta_falls_and_approaches_hard():
    scores = torch.tensor([[0.1, 2.0, -1.0, 1.5]])
    entropies = []
    for beta in (10.0, 1.0, 0.1, 0.001):
        q = group_targets(scores, "soft", beta=beta)
        entropies.append(-(q * q.log()).sum().item())
    assert entropies == sorted(entropies, reverse=True)
    torch.testing.assert_close(group_targets(scores, "soft", beta=1e-3), group_targets(scores, "hard"))


def test_kde_target_of_a_two_candidate_group():
    # median 0.5, MAD 0.5, h = 1.06 * 1.4826 * 0.5 * 2^(-1/5); F = (1/2 + Phi(+-1/h)) / 2.
    q = group_targets(torch.tensor([[0.0, 1.0]], dtype=torch.float64), "kde")
    h = 1.06 * 1.4826 * 0.5 * 2 ** (-0.2)
    f_hi = (0.5 + 0.5 * (1 + math.erf(1 / h / math.sqrt(2)))) / 2
    logit_hi = math.log(f_hi / (1 - f_hi))
    expected = torch.softmax(torch.tensor([[-logit_hi, logit_hi]], dtype=torch.float64), -1)
    torch.testing.assert_close(q, expected)


def test_pairwise_soft_labels_on_raw_scores():
    logp, logp_ref = _log_probs(1, 2, seed=17), _log_probs(1, 2, seed=18)
    scores = torch.tensor([[2.0, 1.5]], dtype=torch.float64)
    d = ((logp - logp_ref)[0, 0] - (logp - logp_ref)[0, 1]) / 0.5
    y = torch.sigmoid(torch.tensor(0.5 / 0.25, dtype=torch.float64))
    expected = -(y * F.logsigmoid(d) + (1 - y) * F.logsigmoid(-d))
    got = pairwise_loss(logp, logp_ref, scores, temperature=0.5, beta=0.25, normalize="none")
    torch.testing.assert_close(got, expected)


def test_float32_gradients_match_float64_for_huge_scores():
    # The same scores in both precisions (1e8 - 5e2 is not a float32 number): only the computation differs.
    scores = torch.tensor(HUGE_SCORES[:3], dtype=torch.float32).double()
    grads = {}
    for dtype in (torch.float32, torch.float64):
        logp = _log_probs(3, 4, seed=19).to(dtype).requires_grad_(True)
        logp_ref = _log_probs(3, 4, seed=20).to(dtype)
        s = scores.to(dtype)
        loss = listwise_loss(logp, logp_ref, group_targets(s, "soft"), 0.5) + pairwise_loss(logp, logp_ref, s, 0.5)
        loss = loss + listwise_loss(logp, logp_ref, group_targets(s, "kde"), 0.5)
        loss.backward()
        grads[dtype] = logp.grad.double()
    torch.testing.assert_close(grads[torch.float32], grads[torch.float64], rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_losses_run_on_cuda_and_match_cpu():
    logp, logp_ref = _log_probs(8, 5, seed=21), _log_probs(8, 5, seed=22)
    scores = torch.randn(8, 5, dtype=torch.float64)
    for loss_fn in (
        lambda lp, lr, s: listwise_loss(lp, lr, group_targets(s, "kde"), 0.5),
        lambda lp, lr, s: listwise_loss(lp, lr, group_targets(s, "soft"), 0.5),
        lambda lp, lr, s: pairwise_loss(lp, lr, s, 0.5),
        lambda lp, lr, s: plackett_luce_loss(lp, lr, s, 0.5, top_k=3),
        lambda lp, lr, s: grpo_loss(lp, lr, s),
    ):
        on_cuda = loss_fn(logp.cuda(), logp_ref.cuda(), scores.cuda())
        assert on_cuda.device.type == "cuda"
        torch.testing.assert_close(on_cuda.cpu(), loss_fn(logp, logp_ref, scores))


def test_grpo_loss_stays_finite_when_the_policy_moved_far_from_the_anchor() -> None:
    logp = torch.tensor([[0.0, -300.0, 250.0]], requires_grad=True)
    logp_anchor = torch.zeros(1, 3)
    scores = torch.tensor([[1.0, 0.0, -1.0]])
    loss = grpo_loss(logp, logp_anchor, scores)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
