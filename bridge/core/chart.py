"""How the desk's figures are shown: durations, shares, and the digest's chart (a PNG).

The chart is drawn with matplotlib on its Agg backend (no screen), imported only when a chart is
drawn so that a worker starts without it.
"""

from __future__ import annotations

import io


def duration(seconds: float | None) -> str:
    """``4 min``, ``2 h 05 min``, ``3 d 4 h``; ``n/a`` for none."""
    if seconds is None:
        return "n/a"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def day_chart(title: str, opened_by_hour: dict[int, int], median_by_hour: dict[int, float]) -> bytes:
    """PNG bytes: bars of cases opened per hour, and a line of the median first response (minutes)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    hours = list(range(24))
    figure, cases = plt.subplots(figsize=(8, 3.6), dpi=100)
    try:
        cases.bar(hours, [opened_by_hour.get(h, 0) for h in hours], color="#1d9bf0", label="cases opened")
        cases.set_xlabel("hour of the day")
        cases.set_ylabel("cases opened")
        cases.set_xticks(range(0, 24, 2))
        cases.set_xlim(-0.6, 23.6)
        cases.yaxis.get_major_locator().set_params(integer=True)
        minutes = cases.twinx()
        answered = sorted(median_by_hour)
        minutes.plot(answered, [median_by_hour[h] / 60 for h in answered], color="#e0245e", marker="o",
                     label="median first response")
        minutes.set_ylabel("median first response (min)")
        minutes.set_ylim(bottom=0)
        figure.legend(loc="upper left", bbox_to_anchor=(0.08, 0.92), fontsize="small", frameon=False)
        cases.set_title(title)
        figure.tight_layout()
        out = io.BytesIO()
        # No timestamp in the file: the same figures give the same bytes.
        figure.savefig(out, format="png", metadata={"Software": None})
        return out.getvalue()
    finally:
        plt.close(figure)
