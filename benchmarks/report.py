"""The benchmark's output: ``results.csv``, the ``results.md`` page and two plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from protocols import IMAGE_SETS, Profile
from runner import contenders

CSV_FIELDS = tuple(
    "part dataset normal_class class_name seed detector family n_train n_test "
    "roc_auc average_precision fit_s score_s status params".split()
)


def write_csv(rows: list[dict], path: Path) -> None:
    """One row per fit, in the order they ran."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    key: f"{value:.6g}" if isinstance(value, float) else value
                    for key in CSV_FIELDS
                    for value in [row.get(key, "")]
                }
            )


def read_csv(path: Path) -> list[dict]:
    """Rows of a ``results.csv`` with numbers as numbers (to resume or redo the report)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ("roc_auc", "average_precision", "fit_s", "score_s"):
            row[key] = float(row[key])
        for key in ("seed", "n_train", "n_test"):
            row[key] = int(row[key])
    return rows


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _detectors(rows) -> list[str]:
    """Detector names in the order of ``runner.contenders()``, whatever order they ran in."""
    rank = {c.name: i for i, c in enumerate(contenders())}
    return sorted(dict.fromkeys(r["detector"] for r in rows), key=lambda d: rank.get(d, len(rank)))


def _mean_over(per: dict, keys) -> float:
    """Mean of the first statistic over ``keys``; NaN unless every key is present."""
    keys = list(keys)
    if not keys or any(k not in per for k in keys):
        return math.nan
    return float(np.mean([per[k][0] for k in keys]))


def summary(rows: list[dict], part: str, dataset: str | None = None) -> dict:
    """``{detector: {group: (AUC mean, AUC std, AP mean, fit s, score s)}}`` over seeds.

    Groups are data sets (``part="tabular"``) or the normal classes of
    ``dataset`` (``part="image"``). A group where any seed failed has no
    entry, so means compare like with like.
    """
    rows = [r for r in rows if r["part"] == part and dataset in (None, r["dataset"])]
    group = "dataset" if part == "tabular" else "class_name"
    out: dict[str, dict] = {}
    for detector in _detectors(rows):
        mine = [r for r in rows if r["detector"] == detector]
        out[detector] = {}
        for key in dict.fromkeys(r[group] for r in mine):
            runs = [r for r in mine if r[group] == key]
            if all(r["status"] == "ok" for r in runs):
                aucs = [r["roc_auc"] for r in runs]
                out[detector][key] = (
                    float(np.mean(aucs)),
                    float(np.std(aucs)),
                    _mean(r["average_precision"] for r in runs),
                    _mean(r["fit_s"] for r in runs),
                    _mean(r["score_s"] for r in runs),
                )
    return out


def _table(header, body) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body] + [""]


def _f(x: float, digits: int = 3) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _settings(params: dict) -> str:
    return f"`{params}`" if params else "library defaults"


def mean_ranks(per_detector: dict, sets, statistic: int = 0) -> dict[str, float]:
    """Mean rank of each detector over ``sets`` (1 = best; ties share their mean rank).

    ``per_detector`` is a :func:`summary`; only detectors with every set take part.
    """
    from scipy.stats import rankdata

    complete = [d for d, per in per_detector.items() if all(s in per for s in sets)]
    if not complete or not sets:
        return {}
    values = np.array([[per_detector[d][s][statistic] for d in complete] for s in sets])
    ranks = np.array([rankdata(-row) for row in values])
    return dict(zip(complete, ranks.mean(0), strict=True))


def _tabular_summary(tab: dict, sets) -> list[list[str]]:
    """One line per detector, best mean ROC-AUC first: the means over ``sets``."""
    auc_ranks, ap_ranks = mean_ranks(tab, sets, 0), mean_ranks(tab, sets, 2)
    lines = []
    for d, per in tab.items():
        if d not in auc_ranks:
            continue
        stats = np.array([per[s] for s in sets])
        lines.append(
            (
                -stats[:, 0].mean(),
                [
                    d,
                    _f(stats[:, 0].mean()),
                    _f(stats[:, 2].mean()),
                    f"{auc_ranks[d]:.2f}",
                    f"{ap_ranks[d]:.2f}",
                    _f(stats[:, 1].mean()),
                    f"{stats[:, 3].mean():.2f}",
                ],
            )
        )
    return [cells for _, cells in sorted(lines, key=lambda item: item[0])]


_PROTOCOLS = {
    "pyod": "PyOD's protocol: 60/40 stratified split (train + test rows in brackets), features "
    "standardised on the training part, fit on the contaminated training part",
    "adbench": "ADBench's protocol (Han et al. 2022): 70/30 stratified split (train + test rows "
    "in brackets), the training part capped at {cap:,} rows (a stratified subsample), "
    "features standardised on it, fit on the contaminated training part (labels unused)",
}


def markdown_report(rows: list[dict], profile: Profile, runs: list[dict]) -> str:
    """The results page: how it was run, on what, then the tables.

    ``runs`` lists the invocations that made ``rows`` (a resumed run has
    several), each a dict with ``command``, ``started``, ``wall_s`` and
    ``machine`` (what :func:`run_benchmark.machine` recorded).
    """
    minutes = sum(run["wall_s"] for run in runs) / 60
    parts = [
        "# Benchmark results",
        "",
        f"Profile **{profile.name}**, {minutes:.1f} minutes in all, made by:",
        "",
        "```",
        *(f"{run['command']}    # {run['started']}, {run['wall_s'] / 60:.1f} min" for run in runs),
        "```",
        "",
        *_table(["machine", ""], [[k, str(v)] for k, v in runs[-1]["machine"].items()]),
        "Timings are wall-clock seconds on this machine, with the load average above beside "
        "them: compare them within this run, not across machines.",
        "",
    ]
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        parts += ["Failed fits (left out of the means):", ""]
        parts += [
            f"- {r['detector']} on {r['dataset']} {r['class_name']} seed {r['seed']}: "
            f"{r['status']}"
            for r in failed
        ]
        parts.append("")

    tab = summary(rows, "tabular")
    tabular = [r for r in rows if r["part"] == "tabular"]
    sets = list(dict.fromkeys(r["dataset"] for r in tabular))
    if sets:
        sizes = {
            r["dataset"]: f"{r['dataset'].removeprefix('adbench/')} ({r['n_train']}+{r['n_test']})"
            for r in tabular
        }
        header = ["detector"] + [sizes[s] for s in sets]

        def cells(per, show):
            return [show(per[s]) if s in per else "–" for s in sets]

        auc = [
            [d, *cells(per, lambda v: f"{v[0]:.3f} ± {v[1]:.3f}"), _f(_mean_over(per, sets))]
            for d, per in tab.items()
        ]
        ap = [
            [
                d,
                *cells(per, lambda v: _f(v[2])),
                _f(
                    np.mean([per[s][2] for s in sets]) if all(s in per for s in sets) else math.nan
                ),
            ]
            for d, per in tab.items()
        ]
        seconds = [
            [d, *cells(per, lambda v: f"{v[3]:.2f} / {v[4]:.2f}")] for d, per in tab.items()
        ]
        protocol = _PROTOCOLS[profile.tabular_protocol].format(cap=profile.max_train_rows or 0)
        seeds = sorted({r["seed"] for r in tabular})
        # Which seeds, where they are not the profile's usual 0, 1, ...
        which = f" ({', '.join(map(str, seeds))})" if seeds != list(range(len(seeds))) else ""
        parts += [
            "## Tabular data",
            "",
            f"{protocol}; {len(seeds)} seed(s){which}, the seed drawing the "
            "split and seeding the detector. Settings: skanomaly "
            f"{_settings(profile.ours_tabular)}, PyOD {_settings(profile.pyod_tabular)}.",
            "",
            "### Summary",
            "",
            "Means over the data sets of each set's mean over seeds; ranks among the "
            "detectors below (1 = best); seed std: the standard deviation of a set's "
            "ROC-AUC over seeds, averaged over sets.",
            "",
            *_table(
                [
                    "detector",
                    "ROC-AUC",
                    "average precision",
                    "rank (ROC-AUC)",
                    "rank (AP)",
                    "seed std",
                    "fit s",
                ],
                _tabular_summary(tab, sets),
            ),
            "### ROC-AUC (mean ± std over seeds)",
            "",
            *_table([*header, "mean"], auc),
            "### Average precision",
            "",
            *_table([*header, "mean"], ap),
            "### Seconds: fit / score (mean over seeds)",
            "",
            *_table(header, seconds),
        ]
    for dataset, title in (("fashion_mnist", "Fashion-MNIST"), ("digits", "Digits (8×8)")):
        per_class = summary(rows, "image", dataset)
        if not per_class:
            continue
        mine = [r for r in rows if r["dataset"] == dataset]
        classes = list(dict.fromkeys(r["class_name"] for r in mine))
        n_train = sorted({r["n_train"] for r in mine})
        sizes = f"{n_train[0]}" if len(n_train) == 1 else f"{n_train[0]}–{n_train[-1]}"
        body = [
            [detector, *(_f(per[c][0]) if c in per else "–" for c in classes)]
            + [
                _f(_mean_over(per, classes)),
                _f(_mean(r["fit_s"] + r["score_s"] for r in mine if r["detector"] == detector), 1),
            ]
            for detector, per in per_class.items()
        ]
        parts += [
            f"## {title}, one class normal in turn",
            "",
            f"ROC-AUC per normal class, {len({r['seed'] for r in mine})} seed(s); {sizes} "
            f"training images of the normal class, {mine[0]['n_test']} test images of all "
            f"classes. skanomaly settings: {_settings(profile.ours_image.get(dataset, {}))}; "
            f"PyOD: {_settings(profile.pyod_image)}. Last column: mean seconds per class "
            "(fit + score).",
            "",
            *_table(["detector", *classes, "mean", "s / class"], body),
        ]
    parts += [
        "## Plots",
        "",
        "![ROC-AUC per detector and data set](auc_per_dataset.png)",
        "",
        "![Time against ROC-AUC](time_vs_auc.png)",
        "",
    ]
    return "\n".join(parts)


def plot_results(rows: list[dict], out_dir: Path) -> None:
    """``auc_per_dataset.png`` (grouped bars) and ``time_vs_auc.png`` (scatter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns: dict[str, dict[str, float]] = {}
    for detector, per in summary(rows, "tabular").items():
        for dataset, stats in per.items():
            columns.setdefault(dataset, {})[detector] = stats[0]
    for dataset in IMAGE_SETS:
        classes = list(dict.fromkeys(r["class_name"] for r in rows if r["dataset"] == dataset))
        for detector, per in summary(rows, "image", dataset).items():
            if not math.isnan(mean := _mean_over(per, classes)):
                columns.setdefault(f"{dataset}\n(mean)", {})[detector] = mean
    detectors = _detectors(rows)
    colours = plt.get_cmap("tab10")

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(columns) + 2), 4.5))
    width = 0.8 / max(1, len(detectors))
    for i, detector in enumerate(detectors):
        xs = [j + i * width for j, col in enumerate(columns) if detector in columns[col]]
        ys = [columns[col][detector] for col in columns if detector in columns[col]]
        ax.bar(xs, ys, width, label=detector, color=colours(i % 10))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(columns))], list(columns))
    ax.set_ylabel("ROC-AUC (test)")
    ax.set_ylim(0, 1)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax.set_title("ROC-AUC per detector and data set")
    fig.tight_layout()
    fig.savefig(out_dir / "auc_per_dataset.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ok = [r for r in rows if r["status"] == "ok"]
    for part, marker in (("tabular", "o"), ("image", "s")):
        for i, detector in enumerate(detectors):
            runs = [r for r in ok if r["part"] == part and r["detector"] == detector]
            if runs:
                seconds = _mean(r["fit_s"] + r["score_s"] for r in runs)
                auc = _mean(r["roc_auc"] for r in runs)
                ax.scatter(seconds, auc, marker=marker, color=colours(i % 10), s=50)
                ax.annotate(
                    detector, (seconds, auc), fontsize=6, xytext=(4, 2), textcoords="offset points"
                )
    ax.set_xscale("log")
    ax.set_xlabel("mean seconds per fit + score (log scale)")
    ax.set_ylabel("mean ROC-AUC")
    ax.set_title("Time against ROC-AUC (circles: tabular, squares: images)")
    fig.tight_layout()
    fig.savefig(out_dir / "time_vs_auc.png", dpi=120)
    plt.close(fig)
