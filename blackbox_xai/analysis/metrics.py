"""How good is an explanation? Region perturbation with AOPC (Samek et al. 2017) and word deletion.

Both take the relevance of any explanation of this library - an array, an ``Attribution``
(KernelSHAP, LIME, occlusion), an ``SIS`` (its backward-selection order: the last removed is the
most relevant) or an LRP ``Relevance`` - rank the input's regions (or words) by it, destroy them one
after another, and record the model's output after each step. ``AOPC = 1/(L+1) sum_k f(x^0) -
f(x^k)``: a higher AOPC under "morf" (most relevant first) means the explanation found what the
model relies on. Always compare with ``order="random"``; :func:`perturbation_summary` gives MoRF,
LeRF and random orders in one call.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blackbox_xai._validation import resolve_target
from blackbox_xai.adapters import as_model
from blackbox_xai.engine import Engine
from blackbox_xai.features import FeatureSpace
from blackbox_xai.maskers import TextMasker, ValueMasker

ORDERS = ("morf", "lerf", "random")


@dataclass
class PerturbationCurve:
    """Model output after each step: ``scores[0]`` on the intact input, ``scores[k]`` after k steps."""

    scores: np.ndarray
    order: str
    target: int
    units: list  # what was destroyed at each step (region corners, or token spans)

    @property
    def aopc(self) -> float:
        return float(np.mean(self.scores[0] - self.scores))

    def __repr__(self):
        return f"PerturbationCurve(order={self.order!r}, steps={len(self.scores) - 1}, aopc={self.aopc:.4g})"


@dataclass
class PerturbationSummary:
    """One explanation scored three ways: MoRF, LeRF, and random orders (the floor)."""

    morf: PerturbationCurve
    lerf: PerturbationCurve
    random: list

    @property
    def aopc(self) -> dict:
        """``{"morf": ..., "lerf": ..., "random": mean over the random orders}``."""
        return {"morf": self.morf.aopc, "lerf": self.lerf.aopc,
                "random": float(np.mean([c.aopc for c in self.random]))}

    def __repr__(self):
        return "PerturbationSummary(" + ", ".join(f"{k}={v:.4g}" for k, v in self.aopc.items()) + ")"


def perturbation_summary(model, x, explanation, *, n_random=5, random_state=None, **options):
    """AOPC of ``explanation`` most relevant first, least relevant first, and over ``n_random``
    random orders, by word deletion when ``x`` is a string, else by region perturbation
    (``options``: ``region``, ``steps``, ``target``, ``noise``; ``index`` for text)."""
    seeds = np.random.SeedSequence(random_state).spawn(n_random + 1)
    run = word_deletion if isinstance(x, str) else region_perturbation
    # MoRF and LeRF see the same noise draws, so their difference is the order's alone
    curves = {order: run(model, x, explanation, order=order, random_state=seeds[0], **options)
              for order in ("morf", "lerf")}
    random = [run(model, x, explanation, order="random", random_state=seed, **options) for seed in seeds[1:]]
    return PerturbationSummary(curves["morf"], curves["lerf"], random)


def relevance_map(explanation, shape=None, index=0) -> np.ndarray:
    """Per-position relevance from any explanation of the library (its ``relevance_map(index)``:
    an Attribution, an SIS, input ``index`` of an LRP Relevance) or from an array."""
    if hasattr(explanation, "relevance_map"):
        values = explanation.relevance_map(index)
    else:
        values = np.asarray(explanation, dtype=float)
    if shape is not None and values.shape != tuple(shape):
        values = values.reshape(shape)
    return np.asarray(values, dtype=float)


def _ranking(scores, order, rng):
    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}, got {order!r}")
    if order == "random":
        return rng.permutation(len(scores))
    ranked = np.argsort(-scores if order == "morf" else scores, kind="stable")
    return ranked


def region_perturbation(model, x, explanation, *, region=9, steps=100, order="morf", target=None,
                        noise=None, random_state=None) -> PerturbationCurve:
    """Destroy ``region x region`` tiles of ``x`` in the order of their summed relevance.

    Parameters
    ----------
    model : anything :func:`blackbox_xai.as_model` accepts
    x : array (H, W) or (..., H, W)
        The input; tiles cover the last two axes (every channel of a tile is replaced).
    explanation : array (H, W) or an explanation (see :func:`relevance_map`)
    region : int
        Tile side (non-overlapping tiles on a grid; border tiles may be smaller).
    steps : int
        Tiles destroyed (L); at most the number of tiles.
    order : {"morf", "lerf", "random"}
    target : int, optional
        Output column; default the class predicted for ``x``.
    noise : (low, high), optional
        Uniform noise range; default ``(x.min(), x.max())``.
    """
    rng = np.random.default_rng(random_state)
    model = as_model(model)
    x = np.asarray(x, dtype=float)
    H, W = x.shape[-2:]
    relevance = relevance_map(explanation)
    relevance = relevance.reshape(relevance.shape[-2:]) if relevance.size == H * W else relevance
    if relevance.shape[-2:] != (H, W):
        raise ValueError(f"relevance of shape {relevance.shape} does not cover the input's last axes ({H}, {W})")
    if relevance.ndim > 2:
        relevance = relevance.reshape(-1, H, W).sum(axis=0)
    if not isinstance(region, int) or region < 1:
        raise ValueError(f"region must be a positive int, got {region!r}")
    tiles = [(r, c) for r in range(0, H, region) for c in range(0, W, region)]
    tile_scores = np.array([relevance[r:r + region, c:c + region].sum() for r, c in tiles])
    ranked = _ranking(tile_scores, order, rng)[: min(steps, len(tiles))]
    low, high = noise if noise is not None else (x.min(), x.max())
    batch = np.repeat(x[None], len(ranked) + 1, axis=0)
    current = x.copy()
    for k, t in enumerate(ranked, start=1):
        r, c = tiles[t]
        block = current[..., r:r + region, c:c + region]
        current[..., r:r + region, c:c + region] = rng.uniform(low, high, size=block.shape)
        batch[k] = current
    # each step's input is the whole new input: the engine's value masker writes it as it is
    masker = ValueMasker(x[None], FeatureSpace(x.shape))
    out = Engine(model).evaluate(masker, np.zeros(len(batch), np.intp), batch.reshape(len(batch), -1))
    t = _one_target(target, out[0])
    return PerturbationCurve(out[:, t], order, t, [tiles[i] for i in ranked])


def word_deletion(model, doc, explanation, *, steps=None, order="morf", target=None, index=0,
                  random_state=None) -> PerturbationCurve:
    """Delete the words of ``doc`` one by one in the order of their relevance and re-score the text
    (the model vectorises it again: pass a text pipeline or any function of strings).

    ``explanation``: an LRP ``Relevance`` of a text pipeline (its tokens, document ``index``), a
    LIME text ``Attribution``, or a list of ``(start, end, relevance)`` spans of ``doc``.
    """
    rng = np.random.default_rng(random_state)
    spans = _token_spans(explanation, index)
    if not spans:
        raise ValueError("the explanation holds no tokens of the document")
    scores = np.array([v for _, _, v in spans])
    ranked = _ranking(scores, order, rng)[: steps or len(spans)]
    keep = np.ones((len(ranked) + 1, len(spans)), dtype=bool)  # step k: the first k ranked words gone
    for k, i in enumerate(ranked, start=1):
        keep[k:, i] = False
    order_of_spans = sorted(range(len(spans)), key=lambda j: spans[j][0])
    masker = TextMasker(doc, [spans[j][:2] for j in order_of_spans], np.arange(len(spans)))
    out = Engine(as_model(model)).evaluate(masker, np.zeros(len(keep), np.intp), keep[:, order_of_spans])
    t = _one_target(target, out[0])
    return PerturbationCurve(out[:, t], order, t, [spans[i][:2] for i in ranked])


def _one_target(target, fx):
    t = resolve_target(target, fx)
    if t == "all":
        raise ValueError("a perturbation curve follows one output: target must be None or an int")
    return t


def _token_spans(explanation, index):
    spans = explanation.token_spans(index) if hasattr(explanation, "token_spans") else None
    return spans if spans is not None else [(int(s), int(e), float(v)) for s, e, v in explanation]
