import numpy as np
import pytest

from blackbox_xai import Engine, ModelError, ThreadExecutor, as_model
from blackbox_xai.executors import get_executor
from blackbox_xai.features import FeatureSpace
from blackbox_xai.maskers import Masker


class Recorder:
    def __init__(self):
        self.sizes = []

    def __call__(self, batch):
        self.sizes.append(len(batch))
        return batch.reshape(len(batch), -1).sum(axis=1)


def setup(n=10, m=4):
    rng = np.random.default_rng(0)
    space = FeatureSpace((m,))
    masker = Masker(rng.random((2, m)), np.zeros(m), space)
    rows = np.repeat([0, 1], [n // 2, n - n // 2])
    masks = rng.random((n, m)) < 0.5
    return masker, rows, masks


def test_chunks_follow_batch_size_and_count_evaluations():
    masker, rows, masks = setup(10)
    rec = Recorder()
    engine = Engine(as_model(rec), batch_size=4)
    out = engine.evaluate(masker, rows, masks)
    assert rec.sizes == [4, 4, 2] and engine.n_evaluations == 10
    expected = np.where(masks, masker.X[rows], 0).sum(1)
    np.testing.assert_allclose(out[:, 0], expected)


def test_memory_budget_bounds_chunk_rows():
    masker, rows, masks = setup(10)
    rec = Recorder()
    Engine(as_model(rec), memory_budget=3 * masker.row_nbytes).evaluate(masker, rows, masks)
    assert max(rec.sizes) == 3


def test_model_chunk_bytes_bounds_chunks_within_the_memory_budget():
    masker, rows, masks = setup(10)
    for chunk, budget, largest in ((2, 100, 2), (100, 3, 3), (None, 4, 4)):
        rec = Recorder()
        model = as_model(rec)
        model.chunk_bytes = None if chunk is None else chunk * masker.row_nbytes
        out = Engine(model, memory_budget=budget * masker.row_nbytes).evaluate(masker, rows, masks)
        assert max(rec.sizes) == largest and sum(rec.sizes) == 10
        np.testing.assert_allclose(out[:, 0], np.where(masks, masker.X[rows], 0).sum(1))


def test_serial_buffer_is_reused_across_engines_but_not_by_a_nested_call(monkeypatch):
    """Calls from new engines (a new explainer per row) write into the same memory; a model that
    itself runs an engine while its batch is in use gets a buffer of its own; a buffer above
    KEEP_BUFFER_BYTES is not kept after the call."""
    import blackbox_xai.executors as executors

    masker, rows, masks = setup(10)
    seen = []

    def model(batch):
        seen.append(batch)
        return batch.sum(axis=1)

    for _ in range(2):
        out = Engine(as_model(model)).evaluate(masker, rows, masks)
        np.testing.assert_array_equal(out[:, 0], np.where(masks, masker.X[rows], 0).sum(1))
    assert np.shares_memory(seen[0], seen[1])

    def nesting(batch):
        before = batch.copy()
        inner = Engine(as_model(model)).evaluate(masker, rows, ~masks)
        assert not np.shares_memory(seen[-1], batch)
        np.testing.assert_array_equal(batch, before)  # the outer batch is untouched
        np.testing.assert_array_equal(inner[:, 0], np.where(~masks, masker.X[rows], 0).sum(1))
        return batch.sum(axis=1)

    out = Engine(as_model(nesting)).evaluate(masker, rows, masks)
    np.testing.assert_array_equal(out[:, 0], np.where(masks, masker.X[rows], 0).sum(1))

    monkeypatch.setattr(executors, "KEEP_BUFFER_BYTES", masker.row_nbytes * 5)
    seen.clear()
    for _ in range(2):
        Engine(as_model(model)).evaluate(masker, rows, masks)  # 10 rows: above the limit
    assert not np.shares_memory(seen[0], seen[1])


def test_outputs_that_view_the_batch_survive_the_next_chunk():
    masker, rows, masks = setup(10)
    out = Engine(as_model(lambda batch: batch[:, :2]), batch_size=4).evaluate(masker, rows, masks)
    np.testing.assert_array_equal(out, np.where(masks, masker.X[rows], 0)[:, :2])


def test_thread_executor_gives_identical_outputs():
    masker, rows, masks = setup(50)
    a = Engine(as_model(Recorder()), batch_size=7).evaluate(masker, rows, masks)
    b = Engine(as_model(Recorder()), batch_size=7, executor=ThreadExecutor(3)).evaluate(masker, rows, masks)
    np.testing.assert_array_equal(a, b)


def test_failure_names_the_input_within_a_mixed_chunk():
    masker, rows, masks = setup(10)
    bad = masker.X[1].copy()

    def model(batch):
        if any(np.array_equal(b, bad) for b in batch):
            raise RuntimeError("cannot")
        return batch.sum(1)

    masks[:] = True
    with pytest.raises(ModelError, match=r"masked variants of sample-1: RuntimeError: cannot"):
        Engine(as_model(model)).evaluate(masker, rows, masks, labels=["sample-0", "sample-1"])


def test_get_executor_rejects_unknown():
    with pytest.raises(ValueError, match="executor must be None, one of"):
        get_executor("ray-ish")
