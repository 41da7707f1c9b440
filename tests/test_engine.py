import numpy as np
import pytest

from blackbox_xai import Engine, ModelError, as_model
from helpers import Recorder, engine_case


def test_chunks_follow_batch_size_and_count_evaluations():
    masker, rows, masks = engine_case(10)
    rec = Recorder()
    engine = Engine(as_model(rec), batch_size=4)
    out = engine.evaluate(masker, rows, masks)
    assert rec.sizes == [4, 4, 2] and engine.n_evaluations == 10
    expected = np.where(masks, masker.X[rows], 0).sum(1)
    np.testing.assert_allclose(out[:, 0], expected)


def test_memory_budget_bounds_chunk_rows():
    masker, rows, masks = engine_case(10)
    rec = Recorder()
    Engine(as_model(rec), memory_budget=3 * masker.row_nbytes).evaluate(masker, rows, masks)
    assert max(rec.sizes) == 3


def test_model_chunk_bytes_bounds_chunks_within_the_memory_budget():
    masker, rows, masks = engine_case(10)
    for chunk, budget, largest in ((2, 100, 2), (100, 3, 3), (None, 4, 4)):
        rec = Recorder()
        model = as_model(rec)
        model.chunk_bytes = None if chunk is None else chunk * masker.row_nbytes
        out = Engine(model, memory_budget=budget * masker.row_nbytes).evaluate(masker, rows, masks)
        assert max(rec.sizes) == largest and sum(rec.sizes) == 10
        np.testing.assert_allclose(out[:, 0], np.where(masks, masker.X[rows], 0).sum(1))


def test_outputs_that_view_the_batch_survive_the_next_chunk():
    masker, rows, masks = engine_case(10)
    out = Engine(as_model(lambda batch: batch[:, :2]), batch_size=4).evaluate(masker, rows, masks)
    np.testing.assert_array_equal(out, np.where(masks, masker.X[rows], 0)[:, :2])


def test_failure_names_the_input_within_a_mixed_chunk():
    masker, rows, masks = engine_case(10)
    bad = masker.X[1].copy()

    def model(batch):
        if any(np.array_equal(b, bad) for b in batch):
            raise RuntimeError("cannot")
        return batch.sum(1)

    masks[:] = True
    with pytest.raises(ModelError, match=r"masked variants of sample-1: RuntimeError: cannot"):
        Engine(as_model(model)).evaluate(masker, rows, masks, labels=["sample-0", "sample-1"])
