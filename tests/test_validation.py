"""Parameter validation, driven from the declared constraint tables.

Every explainer, ``LRP`` and adapter declares ``_parameter_constraints``; the bad-input suite below
draws invalid values from the same tables (``Constraint.counterexamples``, minus anything another
constraint of the parameter accepts), so a parameter added to a table is tested without a line
more here. Each value must give a TypeError or ValueError that names the parameter. A companion
test shows the checker failing on an explainer that declares a table but never checks it.
"""
import math

import numpy as np
import pytest

from blackbox_xai import (
    LRP,
    KernelShapExplainer,
    LimeExplainer,
    ModelOutputError,
    OcclusionExplainer,
    SISExplainer,
    as_model,
)
from blackbox_xai._validation import (
    ArrayLike,
    Constant,
    Interval,
    Options,
    PositiveInts,
    RandomState,
    validate_params,
)
from blackbox_xai.adapters import CallableModel, RemoteModel, SklearnModel
from blackbox_xai.exceptions import InvalidParameterError
from helpers import l2

RNG = np.random.default_rng(11)
X_SMALL = RNG.random((3, 12)) * 2.0
BACKGROUND = RNG.random((4, 12))


def _logistic():
    from sklearn.linear_model import LogisticRegression

    X = RNG.normal(size=(40, 4))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X


CLF, X_CLF = _logistic()

# name -> (class, build(**params) -> a zero-argument call that uses them)
TARGETS = {
    "SISExplainer": (SISExplainer, lambda **kw: lambda: SISExplainer(
        **{"model": l2, "threshold": 2.5, **kw}).explain(X_SMALL[0])),
    "KernelShapExplainer": (KernelShapExplainer, lambda **kw: lambda: KernelShapExplainer(
        **{"model": l2, "background": BACKGROUND, "n_samples": 40, "random_state": 0, **kw}).explain(X_SMALL[0])),
    "LimeExplainer": (LimeExplainer, lambda **kw: lambda: LimeExplainer(
        **{"model": l2, "training_data": BACKGROUND, "n_samples": 40, "random_state": 0, **kw}).explain(X_SMALL[0])),
    "OcclusionExplainer": (OcclusionExplainer, lambda **kw: lambda: OcclusionExplainer(
        **{"model": l2, "window": 3, **kw}).explain(X_SMALL[0])),
    "LRP": (LRP, lambda **kw: lambda: LRP(**{"estimator": CLF, **kw}).explain_batch(X_CLF[:2])),
    "CallableModel": (CallableModel, lambda **kw: lambda: as_model(l2, **kw)),
    "SklearnModel": (SklearnModel, lambda **kw: lambda: as_model(CLF, **kw)),
    "RemoteModel": (RemoteModel, lambda **kw: lambda: as_model("http://127.0.0.1:9/v2/models/m", **kw)),
}

try:
    import torch
except ImportError:  # the torch extra is not installed: its adapter is not tested here
    pass
else:
    from blackbox_xai.adapters import TorchModel

    TARGETS["TorchModel"] = (TorchModel, lambda **kw: lambda: as_model(torch.nn.Linear(3, 2), **kw))


def invalid_values(allowed) -> list:
    """Values none of the constraints ``allowed`` accepts, from their own counterexamples."""
    allowed = [Constant(None) if c is None else c for c in allowed]
    found = []
    for constraint in allowed:
        for value in constraint.counterexamples():
            others = [c for c in allowed if c is not constraint]
            if constraint.accepts(value) or any(c.accepts(value) for c in others):
                continue
            if not any(value is v or (type(v) is type(value) and _same(v, value)) for v in found):
                found.append(value)
    return found


def _same(a, b):
    try:
        return bool(a == b) or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    except (TypeError, ValueError):
        return False


def bad_parameter_cases():
    for name, (cls, _) in TARGETS.items():
        for param, allowed in cls._parameter_constraints.items():
            if allowed == "no_validation":
                continue
            for value in invalid_values(allowed):
                yield pytest.param(name, param, value, id=f"{name}-{param}-{value!r:.30}")


BAD_PARAMETERS = list(bad_parameter_cases())


def check_refused_by_name(call, param):
    """``call()`` raises a TypeError or ValueError whose message names ``param``."""
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert param in str(info.value), f"the error does not name {param!r}: {info.value}"


def test_the_tables_give_over_a_hundred_invalid_values():
    assert len(BAD_PARAMETERS) >= 100
    assert {p.values[0] for p in BAD_PARAMETERS} == set(TARGETS)


@pytest.mark.parametrize("name, param, value", BAD_PARAMETERS)
def test_every_invalid_parameter_is_refused_by_name(name, param, value):
    _, build = TARGETS[name]
    check_refused_by_name(build(**{param: value}), param)


def test_the_checker_fails_on_an_explainer_that_does_not_validate():
    class Careless(OcclusionExplainer):
        def _validate_params(self):
            pass  # declares the table but never checks it

    call = lambda: Careless(l2, window=3, progress="yes").explain(X_SMALL[0])  # noqa: E731
    with pytest.raises(pytest.fail.Exception):
        check_refused_by_name(call, "progress")


def test_the_cases_named_by_users():
    """The parameter values users met with confusing messages or silent acceptance."""
    cases = [
        (lambda: KernelShapExplainer(l2, BACKGROUND, random_state=-1).explain(X_SMALL[0]), "random_state"),
        (lambda: SISExplainer(l2, 2.5, memory_budget="1MB").explain(X_SMALL[0]), "memory_budget"),
        (lambda: SISExplainer(l2, 2.5, memory_budget=0).explain(X_SMALL[0]), "memory_budget"),
        (lambda: LimeExplainer(l2, BACKGROUND, memory_budget=-1).explain(X_SMALL[0]), "memory_budget"),
        (lambda: OcclusionExplainer(l2, 1.5).explain(X_SMALL[0]), "window"),
        (lambda: OcclusionExplainer(l2, None).explain(X_SMALL[0]), "window"),
        (lambda: OcclusionExplainer(l2, 3, masked_value=np.ones(5)).explain(X_SMALL[0]), "masked_value"),
        (lambda: KernelShapExplainer(l2, BACKGROUND, tol=-1).explain(X_SMALL[0]), "tol"),
        (lambda: KernelShapExplainer(l2, BACKGROUND, tol=float("nan")).explain(X_SMALL[0]), "tol"),
        (lambda: as_model("http://h:1/v2/models/m", timeout="5"), "timeout"),
        (lambda: as_model("http://h:1/v2/models/m", timeout=float("inf")), "timeout"),
        (lambda: as_model("http://h:1/v2/models/m", backoff=float("nan")), "backoff"),
        (lambda: as_model(l2, output_kind="bogus"), "output_kind"),
    ]
    for call, param in cases:
        check_refused_by_name(call, param)
    with pytest.raises(InvalidParameterError, match="masked_value of OcclusionExplainer") as info:
        OcclusionExplainer(l2, 3, masked_value="zero").explain(X_SMALL[0])
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


# -- bad inputs and bad models, every explainer -------------------------------------------------
EXPLAIN = {
    "sis": lambda model: SISExplainer(model, 2.5),
    "kernel-shap": lambda model: KernelShapExplainer(model, BACKGROUND, n_samples=40, random_state=0),
    "lime": lambda model: LimeExplainer(model, BACKGROUND, n_samples=40, random_state=0),
    "occlusion": lambda model: OcclusionExplainer(model, 3),
}
BAD_INPUTS = {
    "nan": (np.where(np.arange(12) == 4, np.nan, X_SMALL[0]), "NaN"),
    "inf": (np.where(np.arange(12) == 4, np.inf, X_SMALL[0]), "NaN/inf"),
    "strings": (np.array(["a"] * 12), "numbers"),
    "ragged": ([[1.0, 2.0], [3.0]], "x"),
    "empty": (np.zeros(0), "empty"),
}


@pytest.mark.parametrize("input_name", sorted(BAD_INPUTS))
@pytest.mark.parametrize("explainer", sorted(EXPLAIN))
def test_bad_inputs_get_a_clear_error(explainer, input_name):
    x, words = BAD_INPUTS[input_name]
    with pytest.raises(ValueError, match=words):
        EXPLAIN[explainer](l2).explain(x)


@pytest.mark.parametrize("explainer", ["kernel-shap", "lime"])
def test_an_input_of_another_width_than_the_data(explainer):
    with pytest.raises(ValueError, match=r"has shape \(4, 12\) but x has shape \(5,\)"):
        EXPLAIN[explainer](l2).explain(np.ones(5))


BAD_MODELS = {
    "no output column": (lambda b: np.zeros((len(b), 0)), "no output column"),
    "missing rows": (lambda b: l2(b)[:-1], "returned shape"),
    "nan": (lambda b: np.full(len(b), np.nan), "NaN/inf"),
    "three axes": (lambda b: np.zeros((len(b), 2, 2)), "returned shape"),
    "text": (lambda b: np.array(["a"] * len(b)), "not a numeric array"),
}


@pytest.mark.parametrize("model_name", sorted(BAD_MODELS))
@pytest.mark.parametrize("explainer", sorted(EXPLAIN))
def test_bad_models_get_a_model_output_error(explainer, model_name):
    model, words = BAD_MODELS[model_name]
    with pytest.raises(ModelOutputError, match=words):
        EXPLAIN[explainer](model).explain(X_SMALL[0])


def test_lrp_inputs():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC, LinearSVC

    bad = X_CLF[:2].copy()
    bad[0, 1] = np.nan
    y = (X_CLF[:, 0] > 0).astype(int)
    for model in (CLF, LinearSVC().fit(X_CLF, y), SVC().fit(X_CLF, y)):
        with pytest.raises(ValueError, match=r"X contains 1 NaN/inf value\(s\), first at index \(0, 1\)"):
            LRP(model).explain_batch(bad)
        with pytest.raises(ValueError, match="X has 5 features but the model was fitted on 4"):
            LRP(model).explain_batch(np.ones((2, 5)))
    with pytest.raises(ValueError, match="estimator SVC is not fitted"):
        LRP(SVC()).explain_batch(X_CLF[:2])
    text = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        ["good fun", "bad day", "good day", "bad fun"], [1, 0, 1, 0])
    with pytest.raises(ValueError, match=r"explains documents \(strings\); X\[0\] is int"):
        LRP(text).explain_batch([1, 2])


# -- the constraints themselves -----------------------------------------------------------------
def test_interval_ends_and_kinds():
    assert Interval(int, 1).accepts(1) and not Interval(int, 1).accepts(0)
    assert not Interval(int, 1).accepts(True) and not Interval(int, 1).accepts(1.0)
    assert Interval(int, 1).accepts(np.int64(3))
    positive = Interval(float, 0, closed="neither")
    assert positive.accepts(1) and positive.accepts(0.5) and not positive.accepts(0)
    assert not positive.accepts(float("inf")) and not positive.accepts(float("nan"))
    assert str(positive) == "a finite number in (0, inf)" and str(Interval(int, 1)) == "an int in [1, inf)"
    assert str(Interval(float)) == "a finite number"


def test_other_constraints():
    assert Options("a", None).accepts(None) and not Options("a").accepts(["a"])
    assert RandomState().accepts(np.random.default_rng(0)) and not RandomState().accepts(-1)
    assert PositiveInts().accepts((2, 3)) and PositiveInts().accepts(2) and not PositiveInts().accepts(())
    assert PositiveInts(length=2).accepts((2, 3)) and not PositiveInts(length=2).accepts(2)
    assert ArrayLike().accepts([[1, 2]]) and ArrayLike().accepts(0.5)
    assert not ArrayLike().accepts([[np.nan]]) and not ArrayLike().accepts("1")


def test_validate_params_message_lists_every_alternative():
    table = {"n": [Interval(int, 1), Options("auto"), None]}
    with pytest.raises(InvalidParameterError,
                       match=r"n of Thing must be an int in \[1, inf\), one of \['auto'\] or None, got -2"):
        validate_params("Thing", table, {"n": -2})
    validate_params("Thing", table, {"n": None})
    long = np.zeros(1000)
    with pytest.raises(InvalidParameterError) as info:
        validate_params("Thing", table, {"n": long})
    assert len(str(info.value)) < 200  # a large value is shown shortened


def test_get_and_set_params_round_trip():
    explainer = OcclusionExplainer(l2, 3, strides=2)
    params = explainer.get_params()
    assert params["window"] == 3 and params["strides"] == 2 and params["model"] is l2
    assert explainer.set_params(strides=1) is explainer and explainer.strides == 1
    with pytest.raises(ValueError, match="OcclusionExplainer has no parameter 'stride'"):
        explainer.set_params(stride=1)
