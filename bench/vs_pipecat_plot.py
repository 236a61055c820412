"""Plot bench/vs_pipecat.py's results; runs in the benchmark venv, which has matplotlib.

    .bench/pipecat-venv/bin/python bench/vs_pipecat_plot.py .bench/vs_pipecat.json docs/vs_pipecat.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

COLORS = {"parley": "#1f77b4", "pipecat": "#d62728"}
PANELS = [
    ("cpu_s_per_call_minute", None, "server CPU s per call-minute", False),
    ("lag_p50", "lag_p99", "inbound frame lag (ms), p50 dashed / p99", True),
    ("reply_p50", "reply_p99", "end of speech -> first reply audio (ms), p50 dashed / p99", False),
    ("server_cpu_pct", None, "server process CPU (% of its one core)", False),
    ("mb_per_call", None, "memory per call (MB: peak RSS growth / calls)", False),
    ("client_cpu_pct", None, "client CPU (% of one core), for reference", False),
]


def main() -> None:
    report = json.load(open(sys.argv[1]))
    results = report["results"]
    figure, axes = plt.subplots(3, 2, figsize=(11, 11))
    for axis, (low, high, title, log) in zip(axes.flat, PANELS, strict=True):
        for name, color in COLORS.items():
            rows = sorted((r for r in results if r["framework"] == name and low in r), key=lambda r: r["calls"])
            calls = [r["calls"] for r in rows]
            if high:
                axis.plot(calls, [r[low] for r in rows], "--", color=color, alpha=0.6)
                axis.plot(calls, [r[high] for r in rows], "o-", color=color, label=name)
            else:
                axis.plot(calls, [r[low] for r in rows], "o-", color=color, label=name)
            if low == "reply_p50" and rows and rows[0]["calls"] == 1:  # the "carries N" bound
                axis.axhline(1.5 * rows[0]["reply_p99"], color=color, linewidth=0.8, linestyle=":")
        if low == "server_cpu_pct":
            axis.axhline(90, color="gray", linewidth=0.8, linestyle=":")
        if log:
            axis.set_yscale("log")
        axis.set_xscale("log")
        levels = sorted({r["calls"] for r in results})
        axis.set_xticks(levels, [str(n) for n in levels], fontsize=8, rotation=45)
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("concurrent calls")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"Parley vs Pipecat 1.14, simulated Twilio calls: {report['machine']}, {report['date']}", fontsize=10)
    figure.tight_layout()
    figure.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
