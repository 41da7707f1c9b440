"""SIS behaviour beyond the reference vectors: defects fixed, errors, groups, batches, fast mode."""
import warnings

import numpy as np
import pytest
from scipy.special import expit

from blackbox_xai import (
    AdapterNote,
    BackgroundMean,
    InformativeMaskError,
    InsufficientSISWarning,
    ModelError,
    ModelOutputError,
    NoSISWarning,
    SISExplainer,
    ThreadExecutor,
    as_model,
)
from blackbox_xai.executors import SerialExecutor
from helpers import l2, total


# --- the reference's defects, fixed -----------------------------------------------------------
def test_informative_mask_raises_before_work():
    calls = []

    def model(batch):
        calls.append(len(batch))
        return total(batch)

    with pytest.raises(InformativeMaskError, match="fully masked input already reaches"):
        SISExplainer(model, 3.0, masked_value=1.0).explain(np.full(5, 2.0))
    assert sum(calls) == 2  # only f(x) and f(masked) were evaluated


def test_informative_mask_warn_option_returns_empty():
    with pytest.warns(UserWarning, match="fully masked input"):
        got = SISExplainer(total, 3.0, masked_value=1.0, if_masked_sufficient="warn").explain(np.full(5, 2.0))
    assert len(got) == 0


def test_initial_mask_is_applied_before_the_start_check():
    # x=[.1,10,5], f(x)=11.2 but with feature 1 masked from the start f=5.001 < 6: no SIS.
    # The reference checks f(x) on the raw input and would go on.
    with pytest.warns(NoSISWarning, match="with initial_mask applied"):
        got = SISExplainer(l2, 6.0).explain([.1, 10, 5], initial_mask=np.array([True, False, True]))
    assert len(got) == 0


def test_initially_masked_features_take_the_masked_value():
    seen = []

    def model(batch):
        seen.append(batch.copy())
        return total(batch)

    got = SISExplainer(model, -10.0, masked_value=-7.0).explain(
        [1.0, 100.0, 2.0], initial_mask=np.array([True, False, True]))
    assert len(got) >= 1
    later = np.concatenate(seen[1:])
    assert np.all(later[:, 1] == -7.0)  # the initially masked feature never shows its raw value


def test_non_monotone_model_sis_is_reverified_and_flagged():
    # f is high on the full input and on {0} alone, but evaluating {0} after a batch that
    # contains more rows gives a different (stateful) answer: the verification catches it.
    state = {"calls": 0}

    def flaky(batch):
        state["calls"] += 1
        out = total(batch)
        if len(batch) == 2 and state["calls"] > 3:  # the verification request [sis, rest]
            out = out - 100.0
        return out

    with pytest.warns(InsufficientSISWarning):
        got = SISExplainer(flaky, 1.5).explain([2.0, 0.1, 0.1])
    assert not got[0].sufficient
    assert got[0].score < 1.5


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", [np.nan, np.inf, -np.inf])
def test_threshold_must_be_finite(threshold):
    with pytest.raises(ValueError, match="threshold of SISExplainer must be a finite number, got"):
        SISExplainer(total, threshold).explain([1.0, 2.0])


def test_nan_in_x():
    with pytest.raises(ValueError, match=r"x contains 1 NaN/inf value\(s\), first at index \(1,\)"):
        SISExplainer(total, 1.0).explain([1.0, np.nan])


def test_masked_value_shape_mismatch():
    with pytest.raises(ValueError, match=r"masked_value has shape \(3,\) but x has shape \(2, 2\)"):
        SISExplainer(total, 1.0, masked_value=np.zeros(3)).explain(np.ones((2, 2)))


def test_groups_shape_mismatch():
    with pytest.raises(ValueError, match=r"groups \(a mask shape\) is \(1, 3\) but x has shape \(2, 2\)"):
        SISExplainer(total, 1.0, groups=(1, 3)).explain(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"group map\) has shape \(3,\) but x has shape \(2, 2\)"):
        SISExplainer(total, 1.0, groups=np.arange(3)).explain(np.ones((2, 2)))


def test_initial_mask_shape_mismatch():
    with pytest.raises(ValueError, match=r"initial_mask has shape \(2,\)"):
        SISExplainer(total, 1.0).explain([1.0, 2.0, 3.0], initial_mask=np.array([True, False]))


def test_bad_mode_and_target():
    with pytest.raises(ValueError, match="mode of SISExplainer must be one of"):
        SISExplainer(total, 1.0, mode="quick").explain([1.0, 2.0])
    with pytest.raises(ValueError, match="target=3 is out of range for a model with 1 output"):
        SISExplainer(total, 1.0, target=3).explain([1.0, 2.0])


@pytest.mark.parametrize("executor", [None, ThreadExecutor(2)], ids=["serial", "across-inputs"])
def test_model_that_raises_is_chained_and_names_the_input(executor):
    def model(batch):
        if np.any(batch == 13.0):
            raise ZeroDivisionError("boom")
        return total(batch)

    X = np.array([[1.0, 2.0], [3.0, 13.0], [4.0, 5.0]])
    with pytest.raises(ModelError, match=r"failed on masked variants of X\[1\]: ZeroDivisionError: boom") as info:
        SISExplainer(model, 1.0, executor=executor).explain_batch(X)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_model_returning_wrong_shape_or_nan():
    with pytest.raises(ModelOutputError, match=r"returned shape \(1,\) for a batch of shape \(2, 3\)"):
        SISExplainer(lambda b: np.zeros(1), 1.0).explain([1.0, 2.0, 3.0])
    with pytest.raises(ModelOutputError, match="returned NaN/inf"):
        SISExplainer(lambda b: np.full(len(b), np.nan), 1.0).explain([1.0, 2.0, 3.0])


# --- groups -----------------------------------------------------------------------------------
def test_group_map_indices_are_group_ids_and_mask_has_input_shape():
    x = np.array([[5.0, 5.0, 0.1], [0.1, 0.1, 0.1]])
    gmap = np.array([[7, 7, 2], [2, 9, 9]])  # group 7 holds the mass
    got = SISExplainer(total, 9.0, groups=gmap).explain(x)
    assert got[0].indices.tolist() == [7]  # one group id per feature: flat
    assert got[0].mask.shape == x.shape
    assert got[0].mask.tolist() == [[True, True, False], [False, False, False]]
    assert got.group_ids.tolist() == [2, 7, 9]


def test_broadcast_groups_over_channels():
    rng = np.random.default_rng(0)
    x = rng.random((3, 4, 4))
    x[:, 1, 2] += 5.0
    got = SISExplainer(total, 15.0, groups=(1, 4, 4)).explain(x)
    assert got[0].indices.tolist() == [[0, 1, 2]]
    assert got[0].mask.shape == (1, 4, 4)


def test_background_mean_masking():
    background = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])  # mean 2
    got = SISExplainer(total, 10.0, masked_value=BackgroundMean(background)).explain([2.0, 9.0, 2.0])
    assert got.masked_input.tolist() == [2.0, 2.0, 2.0]
    assert got[0].indices.tolist() == [1]  # a 1-D input: flat indices


# --- batches and targets ----------------------------------------------------------------------
def test_explain_batch_equals_explain_one_by_one():
    rng = np.random.default_rng(1)
    X = rng.random((5, 6)) * 3
    explainer = SISExplainer(l2, 2.0)
    batch = explainer.explain_batch(X)
    for i, x in enumerate(X):
        one = explainer.explain(x)
        assert [s.indices.tolist() for s in one] == [s.indices.tolist() for s in batch[i]]
        for a, b in zip(one, batch[i]):
            np.testing.assert_array_equal(a.values, b.values)
        assert one.n_evaluations == batch[i].n_evaluations


def probs(batch):
    """Two-class probabilities from the sum of the first two entries."""
    z = batch[:, 0] + batch[:, 1] - 1.0
    p = 1 / (1 + np.exp(-4 * z))
    return np.stack([1 - p, p], axis=1)


def test_target_default_is_predicted_class_and_explain_overrides():
    explainer = SISExplainer(probs, 0.6, masked_value=0.5)
    got = explainer.explain([1.0, 1.0, 0.0])
    assert got.target == 1
    with pytest.warns(NoSISWarning):
        low = explainer.explain([1.0, 1.0, 0.0], target=0)
    assert low.target == 0 and len(low) == 0
    assert SISExplainer(probs, 0.6, target=0).explain([1.0, 1.0, 0.0], target=1).target == 1


def test_batch_targets_per_row():
    got = SISExplainer(probs, 0.6, masked_value=0.5).explain_batch([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert [c.target for c in got] == [1, 0]


# --- fast mode --------------------------------------------------------------------------------
def test_fast_mode_sis_sufficient_with_fewer_evaluations():
    rng = np.random.default_rng(2)
    x = rng.random(200) * 0.05
    x[rng.choice(200, 8, replace=False)] += rng.random(8) + 1.0
    exact = SISExplainer(total, 4.0).explain(x)
    fast = SISExplainer(total, 4.0, mode="fast").explain(x)
    assert all(s.sufficient for s in fast)
    assert fast.n_evaluations * 10 < exact.n_evaluations
    assert fast[0].size <= 1.3 * exact[0].size
    for s in fast:
        assert total(np.where(s.mask, x, 0.0)[None])[0] >= 4.0


def test_fast_mode_matches_exact_on_the_reference_collection():
    got = SISExplainer(l2, 1.0, mode="fast").explain([.9, .9, 10, 5])
    assert [s.indices.tolist() for s in got] == [[2], [3], [1, 0]]


def _blocks(values):
    """``(features removed before, after)`` of each block of a fast backward selection (a run of
    equal values longer than one)."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        if j > i:
            out.append((i, j + 1))
        i = j + 1
    return out


def test_fast_mode_blocks_keep_half_the_log_odds_margin_of_probabilities():
    """A confident probability saturates: a block judged on the probability margin can spend
    most of the log-odds margin at once (here the first block, 8 of 64 features, takes f from
    log-odds 20 to 8.8, p = 0.99985). With output_kind="probability" every block keeps at least
    half of the log-odds margin; judged as a plain score, some block does not."""
    weights, bias = np.full(64, 1.4), 69.6

    def f(batch):
        z = batch @ weights - bias  # log-odds; both columns without rounding near 0 or 1
        return np.stack([expit(-z), expit(z)], axis=1)

    x, threshold = np.ones(64), 0.9

    def margin(removed):  # log-odds above the threshold's once `removed` features are masked
        return 64 * 1.4 - bias - 1.4 * removed - np.log(threshold / (1 - threshold))

    kept_half = {}
    for kind in ("probability", "score"):
        got = SISExplainer(as_model(f, output_kind=kind), threshold, target=1, mode="fast").explain(x)
        assert all(s.sufficient for s in got)
        blocks = _blocks(got[0].values)
        assert len(blocks) >= 2
        kept_half[kind] = all(margin(after) >= margin(before) / 2 - 1e-9 for before, after in blocks)
    assert kept_half == {"probability": True, "score": False}


def test_fast_mode_ranks_saturated_probabilities_by_the_other_classes():
    """A softmax that reads exactly 1.0 for every single removal still orders them by the other
    classes' probabilities: fast mode removes the weakest evidence first. Read as a plain score,
    every removal ties and goes by feature index, strong features (listed first) before weak ones."""
    weights = np.r_[np.full(20, 50.0), np.full(20, 5.0)]

    def f(batch):
        z = batch @ weights - 1013.0  # 87 for x: 37 or more after any single removal
        return np.stack([expit(-z), expit(z)], axis=1)

    x = np.ones(40)
    singles = f(np.ones((40, 40)) - np.eye(40))[:, 1]
    assert np.all(singles == 1.0)
    smallest = [20 + 4, None]  # all 20 strong features and 4 weak ones reach log-odds 2.2
    for kind in ("probability", "score"):
        got = SISExplainer(as_model(f, output_kind=kind), 0.9, target=1, mode="fast").explain(x)
        assert got[0].sufficient
        smallest[1] = len(got[0].features)
        if kind == "probability":
            assert set(range(20)) <= set(got[0].features) and smallest[1] == smallest[0]
    assert smallest[1] > smallest[0]


# --- real models: the headline use ------------------------------------------------------------
def test_headline_sklearn_predict_is_read_through_predict_proba(digits_mlp):
    clf, X, _ = digits_mlp
    x = X[0]
    with pytest.warns(AdapterNote, match="explaining predict_proba"):
        got = SISExplainer(clf.predict, threshold=0.9).explain(x)
    assert got.target == clf.predict(x[None])[0]
    assert len(got) >= 1
    for s in got:
        p = clf.predict_proba(np.where(s.mask, x, 0.0)[None])[0, got.target]
        assert p >= 0.9 and s.sufficient
        assert abs(p - s.score) < 1e-12


def test_headline_keras_style_predict_returning_probabilities(digits_mlp):
    clf, X, _ = digits_mlp

    class KerasLike:
        def predict(self, batch):
            return clf.predict_proba(batch)

    with warnings.catch_warnings():
        warnings.simplefilter("error", AdapterNote)  # no note for a plain probability function
        got = SISExplainer(KerasLike().predict, threshold=0.9).explain(X[3])
    assert len(got) >= 1 and all(s.sufficient for s in got)


def test_torch_cnn_explained_on_images():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 3),
    )
    from blackbox_xai import as_model

    model = as_model(net, postprocess="softmax")
    rng = np.random.default_rng(0)
    masked = np.full((1, 6, 6), 0.5, np.float32)
    while True:  # an input whose predicted class is clearly above its fully masked score
        x = (rng.random((1, 6, 6)) * 4).astype(np.float32)
        p, q = model(np.stack([x, masked]))
        c = int(np.argmax(p))
        if p[c] > q[c] + 0.1:
            break
    explainer = SISExplainer(model, threshold=float(p[c] + q[c]) / 2, masked_value=0.5, groups=(1, 6, 6))
    got = explainer.explain(x)
    assert got.target == c and len(got) >= 1
    for s in got:
        again = model(np.where(s.mask, x, 0.5)[None].astype(np.float32))[0, got.target]
        assert again >= explainer.threshold


def test_batch_target_length_must_match():
    with pytest.raises(ValueError, match=r"one per row of X \(2\), got shape \(3,\)"):
        SISExplainer(probs, 0.6).explain_batch(np.ones((2, 3)), target=[0, 1, 1])


def test_progress_line_goes_to_stderr(capsys):
    got = SISExplainer(total, 4.0, progress=True).explain(np.arange(1.0, 6.0))
    assert len(got) >= 1
    assert "evaluations" in capsys.readouterr().err


def test_explain_batch_in_several_lockstep_groups_explains_the_right_rows():
    # a memory budget this small puts each input in its own lockstep group
    rng = np.random.default_rng(3)
    X = rng.random((4, 5)) * 3
    small = SISExplainer(l2, 2.0, memory_budget=8).explain_batch(X)
    for x, got in zip(X, small):
        np.testing.assert_array_equal(got.x, x)
        want = SISExplainer(l2, 2.0).explain(x)
        assert [s.indices.tolist() for s in got] == [s.indices.tolist() for s in want]
        assert got.n_evaluations == want.n_evaluations


# --- the vectorised backward selection against a one-candidate-at-a-time loop -----------------
def _naive_backselect(f, x, masked, feature_of_position, state, target):
    state, order, values = state.copy(), [], []
    while state.any():
        best = None
        for j in np.flatnonzero(state):  # increasing feature index: ties keep the first
            keep = state.copy()
            keep[j] = False
            score = f(np.where(keep[feature_of_position], x, masked)[None])[0, target]
            if best is None or score > best[1]:
                best = (j, score)
        order.append(best[0])
        values.append(best[1])
        state[best[0]] = False
    return order, values


@pytest.mark.parametrize("groups", [None, np.array([0, 0, 1, 2, 2, 3, 4, 4, 5])])
def test_vectorised_backselect_matches_a_plain_loop_with_ties_targets_and_uneven_states(groups):
    from blackbox_xai.adapters import as_model
    from blackbox_xai.engine import Engine
    from blackbox_xai.explainers.backselect import backselect_exact
    from blackbox_xai.features import FeatureSpace
    from blackbox_xai.maskers import Masker

    rng = np.random.default_rng(7)
    W = rng.normal(size=(9, 3))

    def f(batch):  # rounded outputs: many exact ties between candidates
        return np.round(np.tanh(batch.reshape(len(batch), -1) @ W), 1)

    X = rng.normal(size=(5, 9))
    masked = rng.normal(size=9)
    space = FeatureSpace((9,), groups)
    masker = Masker(X, masked, space)
    states = rng.random((5, space.n_features)) < 0.7
    states[3] = False  # nothing left to select
    states[4] = True
    targets = [0, 2, 1, 0, 2]
    rows = np.array([4, 0, 2, 1, 3])  # not in order: each state belongs to the row it names
    found, evals = backselect_exact(Engine(as_model(f)), masker, rows, states, targets, [f"X[{i}]" for i in range(5)])
    for i, (order, values) in enumerate(found):
        want_order, want_values = _naive_backselect(f, X[rows[i]], masked, space.feature_of_position,
                                                    states[i], targets[i])
        assert order.tolist() == want_order
        assert values.tolist() == want_values
        r = int(states[i].sum())
        assert evals[i] == r * (r + 1) // 2


# --- parallel across inputs -------------------------------------------------------------------
class TwoWorkersHere(SerialExecutor):
    """Claims two workers and counts the tasks run next to the model (serially, in this process)."""

    parallelism = 2

    def __init__(self):
        super().__init__()
        self.tasks = 0

    def run(self, model, fn, tasks):
        tasks = list(tasks)
        self.tasks += len(tasks)
        return super().run(model, fn, tasks)


def test_explain_batch_splits_inputs_across_workers_and_equals_serial():
    rng = np.random.default_rng(5)
    X = rng.random((5, 6)) * 3
    for mode, masked in (("exact", None), ("fast", BackgroundMean(rng.random((50, 6))))):
        want = SISExplainer(l2, 2.0, mode=mode, masked_value=masked).explain_batch(X)
        executor = TwoWorkersHere()
        got = SISExplainer(l2, 2.0, mode=mode, masked_value=masked, executor=executor).explain_batch(X)
        assert executor.tasks == 2  # one part of the inputs per worker
        assert [c.n_evaluations for c in got] == [c.n_evaluations for c in want]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.x, b.x)
            assert [s.indices.tolist() for s in a] == [s.indices.tolist() for s in b]
            assert [s.values.tolist() for s in a] == [s.values.tolist() for s in b]
    executor = TwoWorkersHere()
    SISExplainer(l2, 2.0, executor=executor).explain(X[0])  # one input: split inside it instead
    assert executor.tasks == 0
    first_four = np.arange(6) < 4  # initial masks and per-row targets travel with each part
    want = SISExplainer(l2, 1.5).explain_batch(X, target=[0] * 5, initial_mask=first_four)
    got = SISExplainer(l2, 1.5, executor=TwoWorkersHere()).explain_batch(X, target=[0] * 5, initial_mask=first_four)
    assert [[s.indices.tolist() for s in c] for c in got] == [[s.indices.tolist() for s in c] for c in want]
    assert all(s.indices.max() < 4 for c in got for s in c) and sum(map(len, got)) > 0
    # parts never exceed a lockstep group (here one input), so idle workers can take the next
    executor = TwoWorkersHere()
    small = SISExplainer(l2, 2.0, executor=executor, memory_budget=8).explain_batch(X)
    assert executor.tasks == 5
    assert [[s.indices.tolist() for s in c] for c in small] == \
        [[s.indices.tolist() for s in c] for c in SISExplainer(l2, 2.0).explain_batch(X)]


def test_warnings_found_on_workers_are_raised_by_the_call():
    X = np.full((3, 4), 2.0)
    with pytest.warns(UserWarning) as record:
        got = SISExplainer(total, 3.0, masked_value=1.0, if_masked_sufficient="warn",
                           executor=ThreadExecutor(2)).explain_batch(X)
    assert [len(c) for c in got] == [0, 0, 0]
    found = [str(w.message) for w in record if "fully masked" in str(w.message)]
    assert len(found) == 1 and found[0].startswith("3 of 3 inputs have no SIS")  # one for the batch
    assert [c.reason.split(":")[0] for c in got] == ["X[0]", "X[1]", "X[2]"]  # found on the workers


def test_progress_across_workers(capsys):
    SISExplainer(total, 4.0, progress=True, executor=ThreadExecutor(2)).explain_batch(
        np.arange(1.0, 11.0).reshape(2, 5))
    assert "evaluations" in capsys.readouterr().err


# --- collections that find nothing say why ------------------------------------------------------
def test_an_input_below_the_threshold_warns_and_says_why():
    from blackbox_xai import NoSISWarning

    with pytest.warns(NoSISWarning, match=r"does not reach the threshold itself \(f=1 < 5"):
        got = SISExplainer(total, 5.0).explain([0.5, 0.5])
    assert len(got) == 0 and not got and "does not reach the threshold" in got.reason
    assert "reason=" in repr(got)
    with pytest.warns(NoSISWarning, match="with initial_mask applied does not reach"):
        masked = SISExplainer(total, 5.0).explain([4.0, 3.0], initial_mask=[False, True])
    assert masked.reason is not None
    assert SISExplainer(total, 5.0).explain([4.0, 3.0]).reason is None  # found: no reason


def test_an_informative_mask_with_warn_says_why():
    from blackbox_xai import NoSISWarning

    with pytest.warns(NoSISWarning, match="fully masked input already reaches"):
        got = SISExplainer(total, 1.0, masked_value=2.0, if_masked_sufficient="warn").explain([3.0, 3.0])
    assert len(got) == 0 and "fully masked input" in got.reason


def test_the_reason_survives_save_and_load(tmp_path):
    from blackbox_xai import SISCollection

    with pytest.warns(UserWarning):
        got = SISExplainer(total, 5.0).explain([0.5, 0.5])
    back = SISCollection.load(got.save(tmp_path / "empty"))
    assert back.reason == got.reason and len(back) == 0


def test_a_probability_threshold_above_one_is_refused(digits_mlp):
    clf, X, _ = digits_mlp
    with pytest.raises(ValueError, match=r"threshold=1.5 is above 1, the largest probability"):
        SISExplainer(clf, 1.5).explain(X[0])


def test_a_batch_with_several_empty_collections_warns_once():
    X = np.array([[0.5, 0.5], [4.0, 3.0], [0.2, 0.1], [0.1, 0.1]])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = SISExplainer(total, 5.0).explain_batch(X)
    notes = [w for w in seen if issubclass(w.category, NoSISWarning)]
    assert len(notes) == 1 and "3 of 4 inputs have no SIS" in str(notes[0].message)
    assert [c.reason is None for c in got] == [False, True, False, False]
