"""ADPO losses: group targets, anchored logits and the listwise / pairwise / Plackett-Luce / GRPO objectives.

Pure tensor functions (no environment, buffer, optimizer or SB3 object), after acme's ``losses/mpo.py``.

Shapes: every tensor is ``[..., K]``: any number of leading batch dimensions (states) times a group of K
candidate actions for each state. ``logp``, ``logp_anchor``, ``scores`` and ``target`` of one call share
that shape. Losses return a scalar for ``reduction="mean"`` / ``"sum"`` (over the leading dimensions) and
a tensor of shape ``[...]`` (one value per group) for ``reduction="none"``.

Notation (ARCHITECTURE.md section 2): l_i = log pi_theta(a_i|s), l_i^ref = log pi_ref(a_i|s),
S_i the score of candidate i, u_i = (l_i - l_i^ref) / temperature the anchored logits, q the target.

Targets are built without gradient (they are labels). Everything is numerically safe for finite scores of
any magnitude (1e8, -1e8, mixed, all-equal groups): no NaN or inf in targets, losses or gradients.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from adpo_rl.checks import check_choice

TARGET_KINDS = ("soft", "hard", "kde")
NORMALIZE_MODES = ("zscore", "center", "none")
PAIR_LABELS = ("soft", "hard")
REDUCTIONS = ("mean", "sum", "none")

# Consistency constants: MAD * 1.4826 and (mean absolute deviation) * sqrt(pi / 2) estimate a Gaussian's std.
MAX_LOG_RATIO = 20.0
_MAD_TO_STD = 1.4826
_MEAN_ABS_DEV_TO_STD = math.sqrt(math.pi / 2.0)


def _check_positive(name: str, value: float | torch.Tensor) -> None:
    bad = bool((value <= 0).any()) if isinstance(value, torch.Tensor) else not value > 0
    if bad:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _as_float(scores: torch.Tensor) -> torch.Tensor:
    """Scores as a detached floating-point tensor (integer rewards are allowed)."""
    scores = torch.as_tensor(scores).detach()
    return scores if scores.is_floating_point() else scores.to(torch.get_default_dtype())


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _half_offsets(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets from the group maximum, halved: d = (S - max S) / 2, and the group's half-range r = -min d.

    Halving first keeps d finite for any finite scores (even +-3e38 in float32), and subtracting close
    numbers is exact, so huge scores with small differences (1e8 + 1e3 vs 1e8) lose no precision here.
    r is replaced by 1 in all-equal groups (where d = 0), so that d / r is always defined.
    """
    half = scores * 0.5
    d = half - half.amax(dim=-1, keepdim=True)
    r = -d.amin(dim=-1, keepdim=True)
    return d, torch.where(r > 0, r, torch.ones_like(r))


def group_advantages(scores: torch.Tensor, normalize: str = "zscore", eps: float = 1e-6) -> torch.Tensor:
    """Group-normalised scores (the advantages A of ARCHITECTURE.md section 2; GRPO uses the same).

    ``zscore``: A_i = (S_i - mean S) / (std S + eps), with the population std (divisor K, so a group of
    one gives A = 0). ``center``: A_i = S_i - mean S. ``none``: A_i = S_i.

    The statistics are computed on (S - max S) / range(S), which leaves the formula unchanged but keeps
    every intermediate finite and exact for scores of any size; all-equal groups get A = 0 exactly.
    (Only ``center`` itself can overflow, when the group's range exceeds the dtype's largest number.)

    :param scores: scores S, shape [..., K]; integer tensors are converted to float.
    :param normalize: "zscore" (default), "center" or "none".
    :param eps: added to the std so that near-constant groups do not blow up.
    :return: advantages, shape [..., K], detached.
    """
    check_choice("normalize", normalize, NORMALIZE_MODES)
    scores = _as_float(scores)
    if normalize == "none":
        return scores
    d, r = _half_offsets(scores)
    x = d / r  # in [-1, 0]; S - mean S = 2 r (x - mean x)
    centred = x - x.mean(dim=-1, keepdim=True)
    if normalize == "center":
        return centred * (2 * r)
    std = centred.square().mean(dim=-1, keepdim=True).sqrt()
    return centred / (std + eps / (2 * r))


def _kde_logits(scores: torch.Tensor) -> torch.Tensor:
    """logit of the Gaussian-kernel-smoothed empirical CDF of each group's scores (see ``group_targets``)."""
    k = scores.shape[-1]
    # F is shift- and scale-invariant, so work on (S - max S) / range(S), which is finite for any scores.
    d, r = _half_offsets(scores)
    x = d / r
    median = x.quantile(0.5, dim=-1, keepdim=True)
    deviation = (x - median).abs()
    sigma = _MAD_TO_STD * deviation.quantile(0.5, dim=-1, keepdim=True)
    # More than half the group tied at the median gives MAD = 0: fall back to the mean absolute deviation.
    sigma = torch.where(sigma > 0, sigma, _MEAN_ABS_DEV_TO_STD * deviation.mean(dim=-1, keepdim=True))
    # Still 0 only for all-equal groups, where every pairwise difference is 0 and any bandwidth gives F = 1/2.
    sigma = torch.where(sigma > 0, sigma, torch.ones_like(sigma))
    bandwidth = 1.06 * sigma * k ** (-0.2)
    diff = (x.unsqueeze(-1) - x.unsqueeze(-2)) / bandwidth.unsqueeze(-1)  # [..., K, K], row i: (x_i - x_j) / h
    cdf = torch.special.ndtr(diff).mean(dim=-1)
    # The j = i term alone keeps F in [1/(2K), 1 - 1/(2K)]; the clamp only guards against rounding.
    cdf = cdf.clamp(0.5 / k, 1.0 - 0.5 / k)
    return torch.logit(cdf)


def group_targets(
    scores: torch.Tensor,
    kind: str = "soft",
    beta: float = 1.0,
    normalize: str = "zscore",
    eps: float = 1e-6,
) -> torch.Tensor:
    """Target distribution q over each group of candidates, built from their scores.

    - ``soft``: q = softmax(A / beta) with A = ``group_advantages(scores, normalize, eps)`` (group z-score by
      default; ``normalize="none"`` gives softmax(S / beta) on the raw scores).
    - ``hard``: one-hot on argmax S; exact ties share the mass evenly.
    - ``kde``: rank-smoothed target robust to heavy-tailed scores. The bandwidth is Silverman's rule
      on a robust scale,
      h = 1.06 * sigma * K^(-1/5), sigma = 1.4826 * median_j |S_j - median S|
      (falling back to sqrt(pi/2) * mean_j |S_j - median S| when that MAD is 0), and
      F_i = (1/K) sum_j Phi((S_i - S_j) / h)   (Gaussian-kernel-smoothed empirical CDF, j = i included),
      q = softmax(logit(F) / beta).
      F lies in [1/(2K), 1 - 1/(2K)], so the logits are bounded by log(2K - 1): a single outlier moves
      every other F by at most 1/K, whatever its size. q is strictly increasing in S_i and invariant to
      shifting or scaling the group's scores; ``normalize`` does not apply.

    Groups whose scores are all equal get the uniform target for every kind.

    :param scores: scores S, shape [..., K].
    :param kind: "soft" (default), "hard" or "kde".
    :param beta: target sharpness for "soft" and "kde" (smaller = greedier), > 0.
    :param normalize: "zscore" (default), "center" or "none"; used by "soft" only.
    :param eps: std offset of the z-score.
    :return: q, shape [..., K], rows summing to 1, without gradient.
    """
    check_choice("kind", kind, TARGET_KINDS)
    check_choice("normalize", normalize, NORMALIZE_MODES)
    _check_positive("beta", beta)
    scores = _as_float(scores)
    if kind == "hard":
        best = scores == scores.amax(dim=-1, keepdim=True)
        best = best.to(scores.dtype)
        return best / best.sum(dim=-1, keepdim=True)
    if kind == "kde":
        logits = _kde_logits(scores) / beta
    elif normalize == "zscore":
        logits = group_advantages(scores, normalize, eps) / beta
    else:
        # softmax is shift-invariant, so "center" and "none" both give softmax((S - max S) / beta), computed
        # from the halved offsets: finite for any scores (tiny beta only sends the losers to -inf, weight 0).
        logits = _half_offsets(scores)[0] / (0.5 * beta)
    return torch.softmax(logits, dim=-1)


def anchored_logits(logp: torch.Tensor, logp_anchor: torch.Tensor, temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Anchored logits u = (logp - logp_anchor) / temperature.

    :param logp: student log-probabilities l, shape [..., K] (carries the gradient).
    :param logp_anchor: anchor log-probabilities l^ref, broadcastable to logp (no gradient expected).
    :param temperature: > 0; a float or a tensor broadcastable to [..., K] (e.g. one per state, [..., 1]).
    :return: u, shape [..., K].
    """
    _check_positive("temperature", temperature)
    return (logp - logp_anchor) / temperature


def listwise_loss(
    logp: torch.Tensor,
    logp_anchor: torch.Tensor,
    target: torch.Tensor,
    temperature: float | torch.Tensor = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """The ADPO objective: L = -sum_i q_i log softmax(u)_i = KL(q || softmax(u)) + H(q).

    Gradient wrt l: (1/temperature) (softmax(u) - q); over the group the minimiser is pi ∝ pi_ref * q^temperature.

    :param logp: student log-probabilities, shape [..., K].
    :param logp_anchor: anchor log-probabilities, shape [..., K].
    :param target: q (e.g. from ``group_targets``), shape [..., K], rows summing to 1.
    :param temperature: anchor temperature, > 0.
    :param reduction: "mean" (default), "sum" or "none" (shape [...]).
    :return: the loss.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    u = anchored_logits(logp, logp_anchor, temperature)
    if target.shape != u.shape:
        raise ValueError(f"target has shape {tuple(target.shape)} but the anchored logits have shape {tuple(u.shape)}")
    loss = -(target.to(u.dtype) * torch.log_softmax(u, dim=-1)).sum(dim=-1)
    return _reduce(loss, reduction)


def pairwise_loss(
    logp: torch.Tensor,
    logp_anchor: torch.Tensor,
    scores: torch.Tensor,
    temperature: float | torch.Tensor = 1.0,
    beta: float = 1.0,
    labels: str = "soft",
    normalize: str = "zscore",
    reduction: str = "mean",
) -> torch.Tensor:
    """Anchored soft-DPO loss over all pairs i < j of each group.

    d_ij = u_i - u_j; the label y_ij = sigmoid((s_i - s_j) / beta) with s = ``group_advantages(scores,
    normalize)`` ("soft"), or 1 / 0 / 0.5 for S_i > / < / = S_j ("hard", which with K = 2 and a fixed
    anchor is DPO). L = -[y log sigmoid(d) + (1 - y) log sigmoid(-d)], averaged over the K(K-1)/2 pairs.

    :param logp: student log-probabilities, shape [..., K], K >= 2.
    :param logp_anchor: anchor log-probabilities, shape [..., K].
    :param scores: scores S, shape [..., K].
    :param temperature: anchor temperature, > 0.
    :param beta: soft-label sharpness, > 0 (unused by hard labels).
    :param labels: "soft" (default) or "hard".
    :param normalize: "zscore" (default), "center" or "none"; for soft labels only.
    :param reduction: "mean" (default), "sum" or "none" (shape [...]).
    :return: the loss.
    """
    check_choice("labels", labels, PAIR_LABELS)
    check_choice("normalize", normalize, NORMALIZE_MODES)
    check_choice("reduction", reduction, REDUCTIONS)
    _check_positive("beta", beta)
    u = anchored_logits(logp, logp_anchor, temperature)
    k = u.shape[-1]
    if k < 2:
        raise ValueError(f"pairwise_loss needs groups of at least 2 candidates, got K={k}")
    i, j = torch.triu_indices(k, k, offset=1, device=u.device)
    d = u[..., i] - u[..., j]
    scores = _as_float(scores)
    if labels == "hard":
        y = ((scores[..., i] > scores[..., j]).to(u.dtype) + (scores[..., i] >= scores[..., j]).to(u.dtype)) / 2
    elif normalize == "zscore":
        s = group_advantages(scores, normalize)
        y = torch.sigmoid((s[..., i] - s[..., j]) / beta).to(u.dtype)
    else:
        # S_i - S_j from the halved offsets: finite for any scores ("center" and "none" agree here).
        d_half = _half_offsets(scores)[0]
        y = torch.sigmoid((d_half[..., i] - d_half[..., j]) / (0.5 * beta)).to(u.dtype)
    loss = -(y * F.logsigmoid(d) + (1 - y) * F.logsigmoid(-d)).mean(dim=-1)
    return _reduce(loss, reduction)


def plackett_luce_loss(
    logp: torch.Tensor,
    logp_anchor: torch.Tensor,
    scores: torch.Tensor,
    temperature: float | torch.Tensor = 1.0,
    top_k: int | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of the score ranking under Plackett-Luce with utilities u.

    With pi the candidates sorted by score, descending (ties kept in index order),
    L = -sum_{r=1}^{n} [u_pi(r) - log sum_{m >= r} exp(u_pi(m))], n = top_k (default K).
    With K = 2 this is the hard-label pairwise (DPO) loss.

    :param logp: student log-probabilities, shape [..., K].
    :param logp_anchor: anchor log-probabilities, shape [..., K].
    :param scores: scores S, shape [..., K]; only their order matters.
    :param temperature: anchor temperature, > 0.
    :param top_k: score only the first top_k positions of the ranking (1 <= top_k <= K); None = all.
    :param reduction: "mean" (default), "sum" or "none" (shape [...]).
    :return: the loss.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    u = anchored_logits(logp, logp_anchor, temperature)
    k = u.shape[-1]
    if top_k is not None and not (isinstance(top_k, int) and 1 <= top_k <= k):
        raise ValueError(f"top_k must be an int in [1, K={k}] or None, got {top_k!r}")
    order = torch.argsort(_as_float(scores), dim=-1, descending=True, stable=True)
    ranked = u.gather(-1, order.expand(u.shape))
    # log sum_{m >= r} exp(u_pi(m)) for every position r, via a cumulative logsumexp on the reversed ranking.
    tail = ranked.flip(-1).logcumsumexp(dim=-1).flip(-1)
    nll = tail - ranked
    if top_k is not None:
        nll = nll[..., :top_k]
    return _reduce(nll.sum(dim=-1), reduction)


def grpo_loss(
    logp: torch.Tensor,
    logp_anchor: torch.Tensor,
    scores: torch.Tensor,
    clip_range: float = 0.2,
    normalize: str = "zscore",
    eps: float = 1e-6,
    reduction: str = "mean",
) -> torch.Tensor:
    """GRPO's clipped-ratio surrogate with group-normalised advantages (the anchor is the behaviour policy).

    ratio_i = exp(l_i - l_i^ref), A = ``group_advantages(scores, normalize, eps)``,
    L = -mean_i min(ratio_i A_i, clip(ratio_i, 1 - c, 1 + c) A_i), the mean taken over the group.

    :param logp: student log-probabilities, shape [..., K].
    :param logp_anchor: anchor (behaviour) log-probabilities, shape [..., K].
    :param scores: scores S, shape [..., K].
    :param clip_range: c, > 0.
    :param normalize: "zscore" (default), "center" or "none".
    :param eps: std offset of the z-score.
    :param reduction: "mean" (default), "sum" or "none" (shape [...]).
    :return: the loss.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    _check_positive("clip_range", clip_range)
    advantages = group_advantages(scores, normalize, eps).to(logp.dtype)
    # The log-ratio is clamped before exp: arms the policy has all but abandoned would otherwise overflow float32
    # (inf * negative advantage = -inf loss, NaN gradients); the clipped term makes the bound irrelevant elsewhere.
    ratio = torch.exp((logp - logp_anchor).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO))
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip_range, 1 + clip_range) * advantages)
    return _reduce(-surrogate.mean(dim=-1), reduction)


def adaptive_temperature(
    t0: float | torch.Tensor,
    entropy_norm: float | torch.Tensor,
    reward_norm: float | torch.Tensor,
    a: float = 0.5,
    b: float = 0.5,
    t_min: float = 0.01,
    t_max: float = 10.0,
) -> float | torch.Tensor:
    """Adaptive anchor temperature: clamp(t0 * (1 + a * H_norm + b * (1 - H_norm) * (1 - R_norm)), t_min, t_max).

    A high-entropy policy (still exploring) gets a softer trust region; a policy that has collapsed
    (low entropy) while its reward is still low gets one too, so it can leave a poor mode. With the
    defaults the temperature stays within [t0, 1.5 t0] before clamping.

    :param t0: base temperature, > 0.
    :param entropy_norm: policy entropy normalised to [0, 1] (H / log K for a categorical); clipped to [0, 1].
    :param reward_norm: reward level normalised to [0, 1]; clipped to [0, 1].
    :param a: weight of the entropy term.
    :param b: weight of the low-entropy-and-low-reward term.
    :param t_min: lower clamp, > 0.
    :param t_max: upper clamp, >= t_min.
    :return: the temperature: a float when every input is a number, otherwise a tensor.
    """
    _check_positive("t0", t0)
    _check_positive("t_min", t_min)
    if t_max < t_min:
        raise ValueError(f"t_max must be >= t_min, got t_min={t_min!r}, t_max={t_max!r}")
    if any(isinstance(x, torch.Tensor) for x in (t0, entropy_norm, reward_norm)):
        h = torch.as_tensor(entropy_norm).clamp(0.0, 1.0)
        r = torch.as_tensor(reward_norm).clamp(0.0, 1.0)
        return (t0 * (1 + a * h + b * (1 - h) * (1 - r))).clamp(t_min, t_max)
    h = min(max(float(entropy_norm), 0.0), 1.0)
    r = min(max(float(reward_norm), 0.0), 1.0)
    return min(max(t0 * (1 + a * h + b * (1 - h) * (1 - r)), t_min), t_max)
