"""The one contract every explainer and LRP keeps, driven from one table: parameters round-trip
through get_params / set_params / clone, the repr shows what differs from the defaults,
``explain_batch(X)[i]`` is ``explain(X[i])``, and a result saves and loads unchanged."""
import numpy as np
import pytest

from blackbox_xai import (
    LRP,
    KernelShapExplainer,
    LimeExplainer,
    OcclusionExplainer,
    SISExplainer,
    clone,
)
from blackbox_xai.result_files import load_result
from helpers import l2

RNG = np.random.default_rng(5)
X = RNG.random((3, 6)) * 2.0
BACKGROUND = RNG.random((4, 6))


def _svc():
    from sklearn.svm import SVC

    data = RNG.normal(size=(40, 6))
    return SVC(kernel="poly", degree=2).fit(data, (data[:, 0] * data[:, 1] > 0).astype(int))


# name -> (explainer, a changed parameter and its value, the inputs it explains)
CONTRACT = {
    "sis": (lambda: SISExplainer(l2, 2.0, mode="fast"), ("threshold", 1.5), X),
    "kernel-shap": (lambda: KernelShapExplainer(l2, BACKGROUND, n_samples=40, random_state=0), ("n_samples", 30), X),
    "lime": (lambda: LimeExplainer(l2, BACKGROUND, n_samples=50, random_state=0), ("alpha", 0.5), X),
    "occlusion": (lambda: OcclusionExplainer(l2, 2, strides=2), ("strides", 1), X),
    "lrp": (lambda: LRP(_svc(), eps=0.01), ("bias", "uniform"), RNG.normal(size=(3, 6))),
}


def _arrays(result):
    """The numbers of a result, whatever its type, for comparison."""
    if hasattr(result, "relevance"):
        return [result.relevance, result.output, result.bias_share]
    if hasattr(result, "values"):
        return [result.values, np.asarray(result.base_value)]
    return [a for s in result for a in (s.features, s.values, np.asarray(s.score))]


def _same(a, b):
    got, want = _arrays(a), _arrays(b)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_params_round_trip_and_clone(name):
    make, (param, value), _ = CONTRACT[name]
    explainer = make()
    params = explainer.get_params()
    assert list(params) == type(explainer)._param_names()
    twin = clone(explainer)
    assert type(twin) is type(explainer) and twin is not explainer
    assert all(twin.get_params()[k] is v for k, v in params.items())
    changed = clone(explainer, **{param: value})
    assert changed.get_params()[param] == value and getattr(explainer, param) != value
    assert explainer.set_params(**{param: value}) is explainer and getattr(explainer, param) == value
    with pytest.raises(ValueError, match="has no parameter"):
        clone(explainer, no_such_parameter=1)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_repr_shows_the_parameters_that_differ(name):
    make, (param, value), _ = CONTRACT[name]
    text = repr(make().set_params(**{param: value}))
    assert text.startswith(type(make()).__name__ + "(") and f"{param}={value!r}" in text
    assert "memory_budget" not in text and "executor" not in text  # defaults are left out


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_explain_batch_row_is_explain(name):
    make, _, inputs = CONTRACT[name]
    explainer = make()
    batch = explainer.explain_batch(inputs)
    for i, x in enumerate(inputs):
        _same(batch[i], explainer.explain(x))


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_result_saves_and_loads(name, tmp_path):
    make, _, inputs = CONTRACT[name]
    result = make().explain(inputs[0])
    back = load_result(result.save(tmp_path / name))
    assert type(back) is type(result)
    _same(back, result)


def test_the_contract_checks_can_fail():
    """A clone that drops a parameter, or a batch row that differs, is caught."""
    explainer = OcclusionExplainer(l2, 2, strides=2)
    wrong = OcclusionExplainer(l2, 2)
    with pytest.raises(AssertionError):
        assert all(wrong.get_params()[k] is v for k, v in explainer.get_params().items())
    with pytest.raises(AssertionError):
        _same(explainer.explain(X[0]), explainer.explain(X[1]))


@pytest.mark.parametrize("name", sorted(set(CONTRACT) - {"lrp"}))
def test_labels_name_the_rows_in_errors(name):
    make, _, inputs = CONTRACT[name]
    explainer = make().set_params(model=lambda b: np.full(len(b), np.nan))
    with pytest.raises(ValueError, match="masked variants of row 7"):
        explainer.explain_batch(inputs[:1], labels=["row 7"])
    with pytest.raises(ValueError, match="labels must name each of the 3 rows"):
        make().explain_batch(inputs, labels=["a"])
