"""Tables, heat map and paper comparisons of the noisy bandit study (rows as written by ``bandit_study.py``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stats import mean_ci

STUDY_TABLE = "results.md"
HEATMAP = "win_mass_heatmap.png"
# Methods compared in the paper's claims; a claim is reported only when its methods are in the results.
DEFAULT_METHOD, DPO, FIXED = "adpo", "dpo", "adpo-fixed"
BASELINES = ("dpo", "grpo", "ppo")

Cell = tuple[float, float, int]
"""(mean, 95% half-width, number of seeds)."""


def aggregate(rows: list[dict[str, Any]], metric: str) -> dict[tuple[str, str], Cell]:
    """
    :param rows: study rows
    :param metric: ``win_mass``, ``regret`` or their ``_mid`` versions
    :return: (scenario, method) -> (mean, 95% t half-width, seeds)
    """
    values: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        values.setdefault((row["scenario"], row["method"]), []).append(float(row[metric]))
    return {key: (*mean_ci(vals), len(vals)) for key, vals in values.items()}


def paired_difference(rows: list[dict[str, Any]], scenario: str, first: str, second: str, metric: str) -> Cell:
    """
    Mean and 95% CI of ``first - second`` over the seeds both methods ran (same seed = same problem and contexts).

    :param rows: study rows
    :param scenario: the scenario
    :param first: a method
    :param second: another method
    :param metric: the metric
    :return: (mean difference, 95% half-width, number of pairs)
    """
    by_seed: dict[str, dict[int, float]] = {first: {}, second: {}}
    for row in rows:
        if row["scenario"] == scenario and row["method"] in by_seed:
            by_seed[row["method"]][int(row["seed"])] = float(row[metric])
    seeds = sorted(set(by_seed[first]) & set(by_seed[second]))
    return (*mean_ci([by_seed[first][s] - by_seed[second][s] for s in seeds]), len(seeds))


def format_cell(cell: Cell | None, digits: int = 3, failed: int = 0) -> str:
    """:return: ``mean ± ci`` (``mean`` alone for one seed, ``—`` when missing), then ``(k failed)`` if runs diverged"""
    note = f" ({failed} failed)" if failed else ""
    if cell is None or math.isnan(cell[0]):
        return "—" + note
    mean, half, _ = cell
    return (f"{mean:.{digits}f}" if math.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}") + note


def failures(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """:return: (scenario, method) -> number of runs that diverged (``status`` not "ok")"""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.get("status", "ok") != "ok":
            counts[(row["scenario"], row["method"])] = counts.get((row["scenario"], row["method"]), 0) + 1
    return counts


def best_method(cells: Mapping[tuple[str, str], Cell], scenario: str, methods: list[str], lower: bool = False) -> str | None:
    """:return: the method with the best mean on ``scenario`` (highest, or lowest when ``lower``), None if none ran"""
    present = [m for m in methods if (scenario, m) in cells and not math.isnan(cells[(scenario, m)][0])]
    if not present:
        return None
    sign = -1.0 if lower else 1.0
    return max(present, key=lambda m: sign * cells[(scenario, m)][0])


def markdown_table(
    cells: Mapping[tuple[str, str], Cell],
    scenarios: list[str],
    methods: list[str],
    lower: bool = False,
    failed: Mapping[tuple[str, str], int] | None = None,
) -> str:
    """
    :param cells: (scenario, method) -> cell
    :param scenarios: rows
    :param methods: columns
    :param lower: whether lower is better (regret)
    :param failed: (scenario, method) -> runs that diverged (shown in the cell; the mean is over the others)
    :return: a markdown table, the best mean of each row in bold
    """
    lines = ["| scenario | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for scenario in scenarios:
        best = best_method(cells, scenario, methods, lower)
        items = []
        for method in methods:
            text = format_cell(cells.get((scenario, method)), failed=(failed or {}).get((scenario, method), 0))
            items.append(f"**{text}**" if method == best else text)
        lines.append(f"| {scenario} | " + " | ".join(items) + " |")
    return "\n".join(lines)


def write_heatmap(
    cells: Mapping[tuple[str, str], Cell], scenarios: list[str], methods: list[str], path: Path, title: str
) -> None:
    """
    Scenario x method heat map of mean win-mass (chance 0.1 to 1), values written in the cells, the best of each row boxed.

    :param cells: (scenario, method) -> win-mass cell
    :param scenarios: rows
    :param methods: columns
    :param path: PNG to write
    :param title: figure title
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    grid = np.array([[cells.get((s, m), (math.nan,))[0] for m in methods] for s in scenarios], dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 2.5, 0.45 * len(scenarios) + 1.8))
    image = ax.imshow(grid, cmap="viridis", vmin=0.1, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
    ax.set_yticks(range(len(scenarios)), scenarios)
    for i, scenario in enumerate(scenarios):
        best = best_method(cells, scenario, methods)
        for j, method in enumerate(methods):
            if not math.isnan(grid[i, j]):
                color = "black" if grid[i, j] > 0.7 else "white"
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color=color, fontsize=8)
            if method == best:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    fig.colorbar(image, ax=ax, label="win-mass (mean over seeds)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _relative(first: Cell | None, second: Cell | None) -> float:
    if first is None or second is None or not second[0] > 0:
        return math.nan
    return 100.0 * (first[0] - second[0]) / second[0]


def _pct(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:+.0f}%"


def comparisons(rows: list[dict[str, Any]], methods: Mapping[str, Any], scenarios: list[str]) -> str:
    """
    The study held against the paper's claims, per scenario and summarised over the noisy scenarios present.

    :param rows: study rows
    :param methods: method label -> ``Method`` (its ``listwise`` flag is used)
    :param scenarios: the scenarios of the study
    :return: markdown
    """
    names = list(methods)
    wins = aggregate(rows, "win_mass")
    noisy = [s for s in scenarios if s != "none"]
    lines = ["## Comparisons", ""]
    have = set(names)
    header = ["scenario", "best method"]
    if {DEFAULT_METHOD, DPO} <= have:
        header += ["adpo vs dpo (relative)", "adpo - dpo (paired)"]
    if {DEFAULT_METHOD, FIXED} <= have:
        header += ["dynamic vs fixed anchor (relative)"]
    for baseline in ("grpo", "ppo"):
        if {DEFAULT_METHOD, baseline} <= have:
            header += [f"adpo - {baseline} (paired)"]
    lines += ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for scenario in scenarios:
        cells = [scenario, best_method(wins, scenario, names) or "—"]
        if {DEFAULT_METHOD, DPO} <= have:
            cells.append(_pct(_relative(wins.get((scenario, DEFAULT_METHOD)), wins.get((scenario, DPO)))))
            cells.append(format_cell(paired_difference(rows, scenario, DEFAULT_METHOD, DPO, "win_mass")))
        if {DEFAULT_METHOD, FIXED} <= have:
            cells.append(_pct(_relative(wins.get((scenario, DEFAULT_METHOD)), wins.get((scenario, FIXED)))))
        for baseline in ("grpo", "ppo"):
            if {DEFAULT_METHOD, baseline} <= have:
                cells.append(format_cell(paired_difference(rows, scenario, DEFAULT_METHOD, baseline, "win_mass")))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if not noisy:
        return "\n".join(lines)

    summary = [f"Over the {len(noisy)} noisy scenarios (win-mass means; the paper's claim in brackets):", ""]
    if {DEFAULT_METHOD, DPO} <= have:
        gains = [_relative(wins.get((s, DEFAULT_METHOD)), wins.get((s, DPO))) for s in noisy]
        gains = [g for g in gains if not math.isnan(g)]
        if gains:
            summary.append(
                f"- ADPO vs DPO: relative win-mass gain from {min(gains):+.0f}% to {max(gains):+.0f}% "
                f"(median {sorted(gains)[len(gains) // 2]:+.0f}%) [paper: +12% to +93%]."
            )
    best = [best_method(wins, s, names) for s in noisy]
    listwise = [s for s, b in zip(noisy, best, strict=True) if b is not None and getattr(methods[b], "listwise", False)]
    summary.append(f"- A listwise variant is best in {len(listwise)} of {len(noisy)} [paper: 11 of 12].")
    cauchy = [s for s in noisy if s.startswith("cauchy")]
    if cauchy and {DEFAULT_METHOD, DPO} <= have:
        parts = [
            f"{s}: DPO {format_cell(wins.get((s, DPO)), 2)} vs ADPO {format_cell(wins.get((s, DEFAULT_METHOD)), 2)}"
            for s in cauchy
        ]
        summary.append(f"- Heavy-tailed (Cauchy) noise: {'; '.join(parts)} [paper: DPO ≈ 0.47 vs ADPO ≈ 0.81].")
    if {DEFAULT_METHOD, FIXED} <= have:
        gains = [_relative(wins.get((s, DEFAULT_METHOD)), wins.get((s, FIXED))) for s in noisy]
        gains = [g for g in gains if not math.isnan(g)]
        if gains:
            summary.append(
                f"- Dynamic (default) vs fixed anchor: from {min(gains):+.0f}% to {max(gains):+.0f}% "
                f"(mean {sum(gains) / len(gains):+.1f}%) [paper: +5% to +11%]."
            )
    for baseline in BASELINES:
        if {DEFAULT_METHOD, baseline} <= have:
            ours, theirs = (wins.get((s, DEFAULT_METHOD)) for s in noisy), (wins.get((s, baseline)) for s in noisy)
            met = [s for s, a, b in zip(noisy, ours, theirs, strict=True) if a and b and a[0] >= b[0]]
            short = [s for s in noisy if s not in met]
            summary.append(
                f"- Default ADPO ≥ {baseline.upper()} (mean win-mass) in {len(met)} of {len(noisy)}"
                + (f"; not in: {', '.join(short)}." if short else ".")
            )
    return "\n".join(lines + summary + [""])


def write_report(
    rows: list[dict[str, Any]], methods: Mapping[str, Any], scenarios: list[str], out: Path, timesteps: int
) -> None:
    """
    Write ``results.md`` (win-mass and regret tables, halfway win-mass, comparisons) and the win-mass heat map.

    :param rows: the study's rows
    :param methods: method label -> ``Method``
    :param scenarios: table rows, in order
    :param out: output folder
    :param timesteps: the budget, for the titles
    """
    names = list(methods)
    seeds = sorted({int(row["seed"]) for row in rows})
    failed = failures(rows)
    out.mkdir(parents=True, exist_ok=True)
    title = f"Noisy bandit study: final win-mass, {timesteps} interactions, seeds {seeds}"
    mid = sorted({int(row["mid_timesteps"]) for row in rows})
    text = [
        "# Noisy bandit study: results",
        "",
        f"{len(rows)} runs; budget {timesteps} interactions per run (scored candidates; env steps for PPO); seeds {seeds}",
        "(seed = model, env and bandit problem seed). Mean ± 95% CI (Student t) over seeds; best mean per row in bold;",
        '"(k failed)": k runs diverged (NaN policy) and are left out of the mean.',
        "Written by benchmarks/bandit_study.py from results.csv.",
        "",
        "Methods:",
        "",
        *[f"- `{name}`: {getattr(method, 'description', '')}" for name, method in methods.items()],
        "",
        "## Final win-mass (higher is better; chance 0.10)",
        "",
        markdown_table(aggregate(rows, "win_mass"), scenarios, names, failed=failed),
        "",
        "## Final regret (lower is better; uniform policy ≈ 1.46)",
        "",
        markdown_table(aggregate(rows, "regret"), scenarios, names, lower=True, failed=failed),
        "",
        f"## Win-mass at about half the budget (evaluated at {', '.join(map(str, mid))} interactions)",
        "",
        markdown_table(aggregate(rows, "win_mass_mid"), scenarios, names),
        "",
        comparisons(rows, methods, scenarios),
    ]
    (out / STUDY_TABLE).write_text("\n".join(text))
    write_heatmap(aggregate(rows, "win_mass"), scenarios, names, out / HEATMAP, title)


def write_sweep_report(rows: list[dict[str, Any]], configs: list[str], scenarios: list[str], out: Path, stage: str) -> None:
    """
    Write ``sweep_<stage>.md``: mean win-mass per configuration and scenario, with the mean and the minimum over scenarios.

    :param rows: the stage's rows
    :param configs: configuration labels, in order
    :param scenarios: the sweep's scenarios
    :param out: output folder
    :param stage: the stage name
    """
    cells = aggregate(rows, "win_mass")
    failed = failures(rows)
    seeds = sorted({int(row["seed"]) for row in rows})
    lines = [
        f"# Tuning sweep, stage `{stage}`",
        "",
        f"Mean final win-mass over seeds {seeds}; written by benchmarks/bandit_study.py --sweep {stage}.",
        "",
        "| configuration | " + " | ".join(scenarios) + " | mean | min |",
        "|---|" + "---:|" * (len(scenarios) + 2),
    ]
    for config in configs:
        means = [cells[(s, config)][0] if (s, config) in cells else math.nan for s in scenarios]
        finite = [m for m in means if not math.isnan(m)]
        summary = [sum(finite) / len(finite), min(finite)] if len(finite) == len(scenarios) else [math.nan, math.nan]
        texts = ["—" if math.isnan(v) else f"{v:.3f}" for v in means + summary]
        texts[: len(scenarios)] = [
            t + (f" ({failed[(s, config)]} failed)" if (s, config) in failed else "")
            for s, t in zip(scenarios, texts, strict=False)
        ]
        lines.append(f"| {config} | " + " | ".join(texts) + " |")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"sweep_{stage}.md").write_text("\n".join(lines) + "\n")
