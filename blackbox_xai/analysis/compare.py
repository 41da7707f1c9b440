"""Compare the rationales of two or more models: the same SIS explainer on each, every SIS
clustered jointly, and each model's SIS scored by the others."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from blackbox_xai._params import clone
from blackbox_xai.analysis.sis_clustering import SISComparison, compare_sis, cross_check


@dataclass
class ModelComparison:
    """What :func:`compare_models` found.

    Attributes
    ----------
    collections : dict of str -> list of SISCollection
        Each model's SIS, one collection per input.
    clusters : SISComparison
        The joint clustering (``clusters.to_markdown()`` for the table).
    cross : dict of (str, str) -> CrossCheck
        ``cross[a, b]``: the SIS of model a scored by model b.
    seconds : dict of str -> float
        Time spent explaining with each model.
    """

    collections: dict
    clusters: SISComparison
    cross: dict
    seconds: dict = field(default_factory=dict)

    def cross_table(self) -> str:
        """The cross-check as Markdown: share of each model's SIS reaching the threshold of another."""
        lines = ["| SIS of | scored by | SIS | reach the threshold |", "|---|---|---|---|"]
        for (a, b), check in self.cross.items():
            lines.append(f"| {a} | {b} | {len(check.scores)} | {100 * check.share:.1f}% |")
        return "\n".join(lines)


def _explain_with_progress(explainer, X, target, name, every):
    """``explainer.explain_batch(X, target)`` in parts of ``every`` inputs, a line on stderr after
    each: inputs done of total, time so far, time left."""
    results, start = [], time.perf_counter()
    per_row = None if target is None or isinstance(target, (int, str)) else list(target)
    for a in range(0, len(X), every):
        results += explainer.explain_batch(X[a:a + every], target if per_row is None else per_row[a:a + every])
        elapsed = time.perf_counter() - start
        left = elapsed / len(results) * (len(X) - len(results))
        print(f"  {name} SIS: {len(results)}/{len(X)} inputs, {elapsed:.0f} s, about {left:.0f} s left",
              file=sys.stderr, flush=True)
    return results


def compare_models(models, X, explainer, *, target=None, eps, min_samples=5, metric="energy",
                   scale=1.0, progress=False, progress_every=8) -> ModelComparison:
    """Explain ``X`` with every model, cluster all SIS jointly and cross-check them.

    Parameters
    ----------
    models : dict of str -> model
        Two or more models (anything :func:`~blackbox_xai.as_model` accepts).
    X : array (N, *input_shape)
        Inputs explained by every model.
    explainer : SISExplainer or callable
        A template explainer (copied, with each model put in), or ``factory(model) -> explainer``.
    target : None, int or per-row ints
        Passed to ``explain_batch``.
    eps, min_samples, metric, scale
        See :func:`~blackbox_xai.analysis.compare_sis`.
    progress : bool
        Lines on stderr while it works: inputs explained per model (every ``progress_every``
        inputs, with the time left), then the clustering and the cross-check.
    """
    if len(models) < 2:
        raise ValueError(f"compare_models needs two or more models, got {len(models)}")
    collections, seconds = {}, {}
    for name, model in models.items():
        if callable(explainer) and not hasattr(explainer, "explain_batch"):
            this = explainer(model)
        else:
            this = clone(explainer, model=model)
        start = time.perf_counter()
        if progress:
            collections[name] = _explain_with_progress(this, X, target, name, progress_every)
        else:
            collections[name] = this.explain_batch(X, target)
        seconds[name] = time.perf_counter() - start
    if progress:
        n_sis = sum(len(c) for cols in collections.values() for c in cols)
        print(f"  clustering {n_sis} SIS ({metric} distance, DBSCAN eps {eps:g}) and cross-checking",
              file=sys.stderr, flush=True)
    clusters = compare_sis(collections, eps=eps, min_samples=min_samples, metric=metric, scale=scale)
    cross = {(a, b): cross_check(collections[a], models[b]) for a in models for b in models if a != b}
    return ModelComparison(collections, clusters, cross, seconds)
