"""Plots people would rather look at than read (matplotlib: ``pip install 'blackbox-xai[plot]'``).

* :func:`attribution_heatmap` - signed attributions over an image, diverging colormap centred at 0;
* :func:`sis_overlay` - an SIS drawn over its input;
* :func:`cluster_montage` - one SIS cluster: the mean SIS mask and a few members;
* :func:`attribution_bar` - the largest values of one tabular explanation, with their names;
* :func:`attribution_summary` - a batch of tabular explanations: each feature's values over the
  inputs, coloured by the feature's value (beeswarm-like), features by mean ``|value|``;
* :func:`deletion_curves` - model output as features are removed (deletion / AOPC curves);
* :func:`text_heatmap_html` - text relevance (LIME text, LRP of a text pipeline) as HTML, red for
  positive, blue for negative.

Every function takes an optional ``ax`` (or returns a figure) and never calls ``plt.show()``.
"""
from __future__ import annotations

import html

import numpy as np


def _plt():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'blackbox-xai[plot]'") from exc
    return plt


def _image(x, image_shape=None, name="x"):
    """A 2-D (or H x W x 3) array to show: flat inputs reshaped to ``image_shape``, channel-first
    images moved, single channels dropped."""
    x = np.asarray(x, dtype=float)
    if image_shape is not None:
        if x.size != int(np.prod(image_shape)):
            raise ValueError(f"{name} has {x.size} values but image_shape={tuple(image_shape)} holds "
                             f"{int(np.prod(image_shape))}")
        x = x.reshape(image_shape)
    elif x.ndim == 1:
        raise ValueError(f"{name} is flat ({x.size} values): pass image_shape= to draw it as an image, "
                         f"e.g. image_shape=(8, 8) for 64 pixels")
    if x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[-1] not in (1, 3):
        x = np.moveaxis(x, 0, -1)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return x


def _bare(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def attribution_heatmap(values, image=None, *, ax=None, title=None, alpha=0.75, colorbar=True,
                        image_shape=None):
    """Signed attributions as a heatmap centred at zero (red positive, blue negative), over the
    image in grey when given. ``values`` may be an :class:`~blackbox_xai.explanation.Attribution`;
    ``image_shape`` draws flat inputs (a model on 64 columns of an 8x8 image) as images."""
    plt = _plt()
    if hasattr(values, "to_input"):
        image = values.x if image is None else image
        values = values.to_input()
    heat = _image(values, image_shape, "values")
    if heat.ndim == 3:  # several channels: sum them
        heat = heat.sum(axis=-1)
    ax = ax or plt.subplots(figsize=(3, 3))[1]
    if image is not None:
        ax.imshow(_image(image, image_shape, "image"), cmap="gray_r")
    limit = float(np.abs(heat).max()) or 1.0
    shown = ax.imshow(heat, cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=alpha if image is not None else 1.0)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title, fontsize=9)
    _bare(ax)
    return ax


def sis_overlay(x, mask, *, ax=None, title=None, color="red", image_shape=None):
    """The input in grey with the SIS pixels in ``color``. ``mask`` may be an
    :class:`~blackbox_xai.explanation.SIS`; ``image_shape`` draws a flat input (64 columns of an
    8x8 digit) as an image."""
    plt = _plt()
    from matplotlib.colors import ListedColormap

    mask = getattr(mask, "mask", mask)
    ax = ax or plt.subplots(figsize=(2, 2))[1]
    ax.imshow(_image(x, image_shape), cmap="gray_r")
    mask = _image(np.broadcast_to(mask, np.shape(x)).astype(float), image_shape, "mask") > 0
    if mask.ndim == 3:
        mask = mask.any(axis=-1)
    ax.imshow(np.ma.masked_where(~mask, np.ones(mask.shape)), cmap=ListedColormap([color]), alpha=0.8,
              vmin=0, vmax=1)
    if title:
        ax.set_title(title, fontsize=8)
    _bare(ax)
    return ax


def cluster_montage(inputs, masks, *, title=None, n_members=5, labels=None):
    """One cluster of SIS: the share of its members holding each pixel (with a colour bar), then
    ``n_members`` examples. With ``labels`` (the model each SIS came from) the examples are drawn
    from every label in turn, so a mixed cluster shows each model's SIS; the figure says how many
    of the cluster's SIS it shows.

    ``inputs`` and ``masks`` are sequences (one per SIS). Returns the figure.
    """
    plt = _plt()
    order = list(range(len(masks)))
    if labels is not None:  # round robin over the labels, each label's members in their order
        by_label = {}
        for i, label in enumerate(labels):
            by_label.setdefault(str(label), []).append(i)
        queues = list(by_label.values())
        order = [q[k] for k in range(max(map(len, queues), default=0)) for q in queues if k < len(q)]
    shown = order[:min(n_members, len(masks))]
    n = len(shown)
    fig, axes = plt.subplots(1, n + 1, figsize=(1.8 * (n + 1) + 0.4, 2.3))
    axes = np.atleast_1d(axes)
    share = np.mean([_image(np.broadcast_to(m, np.shape(x)).astype(float)) for x, m in zip(inputs, masks)], axis=0)
    if share.ndim == 3:
        share = share.max(axis=-1)
    heat = axes[0].imshow(share, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(heat, ax=axes[0], fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
    axes[0].set_title(f"share of {len(masks)} SIS", fontsize=8)
    _bare(axes[0])
    for ax, i in zip(axes[1:], shown):
        sis_overlay(inputs[i], masks[i], ax=ax, title=None if labels is None else str(labels[i]))
    caption = f"{n} of {len(masks)} shown"
    fig.suptitle(f"{title} - {caption}" if title else caption, fontsize=10)
    fig.tight_layout()
    return fig


def attribution_bar(attribution, *, max_display=10, output=None, ax=None, title=None):
    """The ``max_display`` largest ``|value|`` of one explanation as horizontal bars (red positive,
    blue negative), each labelled with its feature's name (``feature = its value`` where the input
    is a row) and the value; the rest summed in one bar. Returns the axes."""
    plt = _plt()
    pairs = attribution.as_list(output=output)
    shown, rest = pairs[:max_display], pairs[max_display:]
    x = None if isinstance(attribution.x, str) else np.asarray(attribution.x)
    per_column = x is not None and x.ndim == 1 and attribution.values.shape[0] == x.size
    names = attribution.feature_names or []
    labels = []
    for name, _ in shown:
        j = names.index(name) if name in names else name
        labels.append(f"{name} = {x[j]:.4g}" if per_column and isinstance(j, int) else str(name))
    values = [v for _, v in shown]
    if rest:
        labels.append(f"{len(rest)} other features")
        values.append(float(sum(v for _, v in rest)))
    ax = ax or plt.subplots(figsize=(6, 0.4 * len(values) + 1))[1]
    rows = np.arange(len(values))[::-1]
    ax.barh(rows, values, color=["#d62728" if v > 0 else "#1f77b4" for v in values])
    ax.set_yticks(rows, labels, fontsize=8)
    for row, v in zip(rows, values):
        ax.text(v, row, f" {v:+.3g} ", va="center", ha="left" if v >= 0 else "right", fontsize=7)
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_xlabel(f"{attribution.method} value" + (f" (output {output})" if output is not None else ""))
    ax.set_title(title or f"target {attribution.target if output is None else output}: output "
                 f"{np.ravel(attribution.output)[0 if output is None else output]:.4g}", fontsize=9)
    ax.margins(x=0.25)
    return ax


def attribution_summary(explanations, *, max_display=12, output=None, ax=None, title=None):
    """A batch of tabular explanations (``explain_batch``'s result): for the ``max_display``
    features of largest mean ``|value|``, one dot per input at its value, coloured by the
    feature's value in that input (low blue, high red), as shap's beeswarm. Returns the axes."""
    plt = _plt()
    values = explanations.values if hasattr(explanations, "values") else np.stack([r.values for r in explanations])
    if values.ndim == 3:
        if output is None:
            raise ValueError("these values cover every output (target='all'): pass output=<column>")
        values = values[..., output]
    if values.ndim != 2:
        raise ValueError(f"attribution_summary draws tabular values (n, M); got shape {values.shape}")
    data = np.stack([np.asarray(r.x, dtype=float).ravel() for r in explanations])
    names = getattr(explanations, "feature_names", None) or explanations[0].feature_names \
        or [str(j) for j in range(values.shape[1])]
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:max_display]
    ax = ax or plt.subplots(figsize=(6, 0.35 * len(order) + 1.2))[1]
    rng = np.random.default_rng(0)  # the dots' vertical jitter only
    for row, j in enumerate(order[::-1]):
        column = data[:, j]
        span = np.ptp(column)
        colour = (column - column.min()) / span if span > 0 else np.full(len(column), 0.5)
        shown = ax.scatter(values[:, j], row + rng.uniform(-0.25, 0.25, len(column)), c=colour, cmap="coolwarm",
                           vmin=0, vmax=1, s=10)
    ax.set_yticks(range(len(order)), [names[j] for j in order[::-1]], fontsize=8)
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_xlabel("value (impact on the output)")
    bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"], fontsize=7)
    bar.set_label("feature value", fontsize=8)
    ax.set_title(title or f"{len(values)} inputs, {len(order)} of {values.shape[1]} features", fontsize=9)
    return ax


def deletion_curves(curves, *, ax=None, title="deletion curve", xlabel="fraction of features removed"):
    """Model output as features are removed, one line per method: ``curves`` maps a name to an
    array of outputs (first entry: nothing removed). The legend gives each curve's AOPC (average
    drop from the first point)."""
    plt = _plt()
    ax = ax or plt.subplots(figsize=(4, 3))[1]
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        steps = np.linspace(0, 1, len(values))
        aopc = float(np.mean(values[0] - values))
        ax.plot(steps, values, label=f"{name} (AOPC {aopc:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("model output")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def text_heatmap_html(result, index=0) -> str:
    """Text relevance as an HTML fragment: each token's background is red for positive and blue
    for negative relevance, its strength proportional to the value (the value shows on hover).

    ``result``: a LIME text attribution (``LimeExplainer(mode="text")``), or an LRP result of a
    text pipeline (``LRP(pipeline).explain(docs)``, document ``index``).
    """
    tokens = getattr(result, "info", {}).get("tokens")
    if tokens is not None and "docs" in result.info:  # LRP: tokens with offsets and relevance
        doc = result.info["docs"][index]
        spans = [(t["start"], t["end"]) for t in tokens[index]]
        return _spans_html(doc, spans, np.array([t["relevance"] for t in tokens[index]]))
    text = getattr(result, "x", None)
    spans = result.info.get("spans") if hasattr(result, "info") else None
    feature_of_token = result.info.get("feature_of_token") if hasattr(result, "info") else None
    if not isinstance(text, str) or spans is None or feature_of_token is None:
        raise ValueError("text_heatmap_html needs a text attribution (LimeExplainer(mode='text')) or an "
                         "LRP result of a text pipeline")
    values = np.asarray(result.values, dtype=float)
    if values.ndim > 1:
        raise ValueError("pick one target: the attribution holds several outputs")
    return _spans_html(text, spans, values[np.asarray(feature_of_token, dtype=int)])


def _spans_html(text, spans, values) -> str:
    limit = float(np.abs(values).max()) if len(values) else 0.0
    limit = limit or 1.0
    parts, last = [], 0
    for (start, end), value in zip(spans, values):
        v = value / limit
        rgb = "220, 40, 40" if v >= 0 else "40, 90, 220"
        parts.append(html.escape(text[last:start]))
        parts.append(f'<span style="background: rgba({rgb}, {abs(v):.2f})" title="{value:+.4g}">'
                     f"{html.escape(text[start:end])}</span>")
        last = end
    parts.append(html.escape(text[last:]))
    return '<p style="font-family: sans-serif; line-height: 1.8">' + "".join(parts) + "</p>"
