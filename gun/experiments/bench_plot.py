"""Charts of `gun bench` reports: one run's medians as bars, a size sweep as FPS against input size."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot():  # Agg: no display needed
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)


def plot(report: dict[str, Any], path: str | Path) -> None:
    """Bars of the median time per (backend, decoder), whiskers to the 90th percentile, FPS on the bars."""
    plt = _pyplot()
    rows = [(b, d, r) for b, per in report["results"].items() for d, r in per.items()]
    labels = [f"{b}\n{'GUM' if d == 'gum' else 'bilinear'} {r['dtype']}" for b, d, r in rows]
    med = [r["ms_median"] for _, _, r in rows]
    p90 = [r["ms_p90"] for _, _, r in rows]
    fig, ax = plt.subplots(figsize=(max(5.5, 1.6 * len(rows)), 4))
    colours = ["tab:blue" if d == "gum" else "tab:orange" for _, d, _ in rows]
    bars = ax.bar(labels, med, color=colours, yerr=[[0] * len(med), [p - m for p, m in zip(p90, med)]], capsize=6)
    for bar, (_, _, r) in zip(bars, rows):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() / 2, f"{r['ms_median']:.1f} ms\n{r['fps']:.1f} FPS",
                ha="center", va="center", color="white", fontsize=9, fontweight="bold")
    h, w = report["size"]
    ax.set_ylabel("time per frame (ms, median; whisker = p90)")
    ax.set_title(f"{report['preset'] or 'model'} {report['encoder']} at {h}x{w}\n{report['device']}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def plot_sweep(reports: list[dict[str, Any]], path: str | Path) -> None:
    """FPS against input size (megapixels), one line per (backend, decoder): GUM solid, bilinear dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    keys = [(b, d) for b, per in reports[0]["results"].items() for d in per]
    for b, d in keys:
        xs = [r["size"][0] * r["size"][1] / 1e6 for r in reports]
        ys = [r["results"][b][d]["fps"] for r in reports]
        dt = reports[0]["results"][b][d]["dtype"]
        ax.plot(xs, ys, "o-" if d == "gum" else "s--", label=f"{b} {dt} {'GUM' if d == 'gum' else 'bilinear'}")
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([r["size"][0] * r["size"][1] / 1e6 for r in reports], [f"{r['size'][0]}x{r['size'][1]}" for r in reports], fontsize=8)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("input size (HxW, log scale of the pixel count)")
    ax.set_ylabel("FPS (batch 1, median)")
    first = reports[0]
    ax.set_title(f"{first['preset'] or 'model'} {first['encoder']}: FPS against input size\n{first['device']}", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _save(fig, path)
