"""Small server-rendered SVG charts for the console (no JavaScript chart library)."""
from __future__ import annotations


def pool_chart(per_day: list[dict], width: int = 1080, height: int = 230, pad: int = 30) -> dict:
    """Geometry of the pool chart: an area for the pool size per day and bars for profiles added
    per day. ``per_day`` is ``pool_stats()["per_day"]``. Returns ``points`` (polyline of the
    size), ``area`` (closed polygon), ``bars`` (``x``, ``y``, ``w``, ``h``, ``date``, ``added``,
    ``size``), ``max_size`` and axis ``labels`` (first, middle, last date)."""
    if not per_day:
        return {"points": "", "area": "", "bars": [], "max_size": 0, "labels": [], "width": width, "height": height}
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    max_size = max(max(d["size"] for d in per_day), 1)
    max_added = max(max(d["added"] for d in per_day), 1)
    step = inner_w / max(len(per_day) - 1, 1)
    bar_w = max(2.0, inner_w / len(per_day) * 0.6)
    points, bars = [], []
    for i, day in enumerate(per_day):
        x = pad + i * step
        y = pad + inner_h * (1 - day["size"] / max_size)
        points.append(f"{x:.1f},{y:.1f}")
        h = inner_h * 0.45 * day["added"] / max_added
        bars.append({"x": round(x - bar_w / 2, 1), "y": round(pad + inner_h - h, 1), "w": round(bar_w, 1),
                     "h": round(h, 1), "date": day["date"], "added": day["added"], "size": day["size"]})
    base = pad + inner_h
    area = f"{pad:.1f},{base:.1f} " + " ".join(points) + f" {pad + (len(per_day) - 1) * step:.1f},{base:.1f}"
    middle = per_day[len(per_day) // 2]["date"]
    labels = [{"x": pad, "text": per_day[0]["date"][5:], "anchor": "start"},
              {"x": pad + inner_w / 2, "text": middle[5:], "anchor": "middle"},
              {"x": pad + inner_w, "text": per_day[-1]["date"][5:], "anchor": "end"}]
    return {"points": " ".join(points), "area": area, "bars": bars, "max_size": max_size, "labels": labels,
            "width": width, "height": height, "pad": pad, "base": base}
