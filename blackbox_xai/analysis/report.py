"""A model comparison on disk: its tables and figures (:func:`save_comparison`) and a self-contained
``report.html`` of one or more comparisons (:func:`write_report`)."""
from __future__ import annotations

import html
import os

import numpy as np


def _count(n, what):
    """``3 clusters``, ``1 input``, ``5 SIS`` (SIS is its own plural)."""
    return f"{n:,} {what}" + ("" if n == 1 or what == "SIS" else "s")


def summarize(comparison, *, caveats=()) -> list:
    """What a comparison found, in sentences computed from it: each model's SIS (and the inputs
    without one, with the reason), how the clusters divide between the models, what the
    cross-check says; then ``caveats``."""
    models = list(comparison.collections)
    lines = []
    for m, cols in comparison.collections.items():
        n_sis = sum(len(c) for c in cols)
        sizes = [s.size for c in cols for s in c]
        none = [c for c in cols if len(c) == 0]
        text = (f"{m}: {_count(n_sis, 'SIS')} on {len(cols) - len(none):,} of {len(cols):,} inputs"
                + (f", median size {int(np.median(sizes)):,} features" if sizes else ""))
        if none:
            reasons = {}
            for c in none:
                key = "it does not reach the threshold itself" if c.reason and "does not reach" in c.reason \
                    else "the fully masked input already does" if c.reason else "no reason recorded"
                reasons[key] = reasons.get(key, 0) + 1
            text += "; none on " + ", ".join(f"{_count(n, 'input')} ({why})" for why, n in reasons.items())
        lines.append(text + ".")
    rows = comparison.clusters.rows
    clusters = [r for r in rows if r["cluster"] != "Misc"]
    misc = next((r for r in rows if r["cluster"] == "Misc"), None)
    if clusters:
        largest = max(clusters, key=lambda r: r["n_sis"])
        shares = ", ".join(f"{largest['share_' + m]:.0f}% {m}" for m in models)
        own = {m: [r for r in clusters if r["share_" + m] == 100.0] for m in models}
        mixed = [r for r in clusters if max(r["share_" + m] for m in models) < 100.0]
        lines.append(f"{_count(len(clusters), 'cluster')} (and Misc); the largest, {largest['cluster']}, holds "
                     f"{_count(largest['n_sis'], 'SIS')} ({shares}). {_count(len(mixed), 'cluster')} "
                     f"{'mixes' if len(mixed) == 1 else 'mix'} the models; "
                     + "; ".join(f"{_count(len(own[m]), 'cluster')} ({sum(r['n_sis'] for r in own[m]):,} SIS) "
                                 f"{'is' if len(own[m]) == 1 else 'are'} {m} only" for m in models) + ".")
    else:
        lines.append("No cluster formed: every SIS is in Misc (eps or min_samples may be too small).")
    if misc is not None:
        lines.append(f"Misc (SIS too far from any cluster): {_count(misc['n_sis'], 'SIS')}, "
                     + ", ".join(f"{misc['share_' + m]:.0f}% {m}" for m in models) + ".")
    for (a, b), check in comparison.cross.items():
        lines.append(f"Cross-check: {100 * check.share:.1f}% of the {a}'s {_count(len(check.scores), 'SIS')} "
                     f"also reach the threshold of the {b} (they would be sufficient for it too).")
    return lines + [f"Caveat: {c}" for c in caveats]


def save_comparison(out, name, comparison, *, title=None, caveats=()) -> dict:
    """Write one :class:`~blackbox_xai.analysis.ModelComparison` to ``out``: ``<name>_clusters.csv``,
    ``<name>_clusters.md`` (the cluster table and the cross-check) and PNG figures (example SIS
    per model, a montage per cluster; needs matplotlib). Returns a section for
    :func:`write_report`: ``title``, ``n_inputs``, ``n_sis``, ``seconds``, ``summary`` (sentences
    from :func:`summarize`, then ``caveats``), ``table``, ``cross``, ``figures`` (file names in
    ``out``)."""
    os.makedirs(out, exist_ok=True)
    table, cross = comparison.clusters.to_markdown(), comparison.cross_table()
    prefix = os.path.join(out, name)
    comparison.clusters.to_csv(prefix + "_clusters.csv")
    with open(prefix + "_clusters.md", "w") as fh:
        fh.write(f"{table}\n\n{cross}\n")
    first = next(iter(comparison.collections.values()))
    return {"title": title or name, "n_inputs": len(first),
            "n_sis": {m: sum(len(c) for c in cols) for m, cols in comparison.collections.items()},
            "seconds": dict(comparison.seconds), "summary": summarize(comparison, caveats=caveats),
            "table": table, "cross": cross, "figures": _figures(out, name, comparison)}


def _figures(out, name, comparison):
    try:  # the caller's backend (a notebook's stays); scripts set Agg
        import matplotlib.pyplot as plt
    except ImportError:
        print("(install matplotlib for the figures)")
        return []
    from blackbox_xai.plot import cluster_montage, sis_overlay

    names = []
    for model, cols in comparison.collections.items():
        every = [(c.x, s.mask) for c in cols for s in c]
        members = every[:8]
        if not members:
            continue
        fig, axes = plt.subplots(1, len(members), figsize=(1.6 * len(members), 1.9))
        for ax, (x, mask) in zip(np.atleast_1d(axes), members):
            sis_overlay(x, mask, ax=ax)
        fig.suptitle(f"{model}: SIS in red - {len(members)} of {len(every):,} shown", fontsize=10)
        names.append(_save(fig, out, f"{name}_sis_{model}.png", plt))
    owners = list(comparison.collections)
    sis = [(c.x, s.mask, owners[i]) for i, m in enumerate(owners) for c in comparison.collections[m] for s in c]
    labels = comparison.clusters.labels
    for row in comparison.clusters.rows:
        cluster = -1 if row["cluster"] == "Misc" else int(row["cluster"][1:]) - 1
        members = [sis[j] for j in np.flatnonzero(labels == cluster)]
        shares = ", ".join(f"{row['share_' + m]:.0f}% {m}" for m in owners)
        fig = cluster_montage([m[0] for m in members], [m[1] for m in members], labels=[m[2] for m in members],
                              title=f"{row['cluster']}: {row['n_sis']:,} SIS ({shares})")
        names.append(_save(fig, out, f"{name}_cluster_{row['cluster']}.png", plt))
    return names


def _save(fig, out, name, plt):
    fig.savefig(os.path.join(out, name), dpi=90, bbox_inches="tight")
    plt.close(fig)
    return name


def _markdown_table_html(markdown):
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line and not line.startswith("|---")]
    head, body = rows[0], rows[1:]
    cells = "".join(f"<th>{html.escape(c.strip())}</th>" for c in head)
    out = [f"<table><tr>{cells}</tr>"]
    for r in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>")
    return "".join(out) + "</table>"


def write_report(out, sections, *, title, intro="", settings=None) -> str:
    """``out/report.html``: ``title``, ``intro``, a list of ``settings`` (name -> value), then per
    section (from :func:`save_comparison`) the SIS counts, the written summary, the cluster table,
    the cross-check and every figure, referenced by relative path so the folder is
    self-contained. Returns the path."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
             "img{max-width:100%;margin:4px 0}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    if settings:
        parts.append("<h2>Settings</h2><ul>")
        parts += [f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in settings.items()]
        parts.append("</ul>")
    for section in sections:
        parts.append(f"<h2>{html.escape(section['title'])}: {section['n_inputs']} inputs</h2>")
        found = ", ".join(f"{model} {n:,}" for model, n in section["n_sis"].items())
        parts.append(f"<p>SIS found: {html.escape(found)}</p>")
        if section.get("summary"):
            parts.append("<h3>What it found</h3><ul class='summary'>"
                         + "".join(f"<li>{html.escape(line)}</li>" for line in section["summary"]) + "</ul>")
        parts.append(_markdown_table_html(section["table"]) + _markdown_table_html(section["cross"]))
        for name in section["figures"]:
            parts.append(f"<div><img src='{html.escape(name)}' alt='{html.escape(name)}'></div>")
    parts.append("</body></html>")
    path = os.path.join(out, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return path
