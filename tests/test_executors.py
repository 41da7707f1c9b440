"""Executors: the serial one's reused buffer, threads, resolving executor names."""
import numpy as np
import pytest

from blackbox_xai import Engine, ThreadExecutor, as_model
from blackbox_xai.executors import get_executor
from helpers import Recorder, engine_case

def test_serial_buffer_is_reused_across_engines_but_not_by_a_nested_call(monkeypatch):
    """Calls from new engines (a new explainer per row) write into the same memory; a model that
    itself runs an engine while its batch is in use gets a buffer of its own; a buffer above
    KEEP_BUFFER_BYTES is not kept after the call."""
    import blackbox_xai.executors as executors

    masker, rows, masks = engine_case(10)
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


def test_thread_executor_gives_identical_outputs():
    masker, rows, masks = engine_case(50)
    a = Engine(as_model(Recorder()), batch_size=7).evaluate(masker, rows, masks)
    b = Engine(as_model(Recorder()), batch_size=7, executor=ThreadExecutor(3)).evaluate(masker, rows, masks)
    np.testing.assert_array_equal(a, b)


def test_get_executor_rejects_unknown():
    with pytest.raises(ValueError, match="executor must be None, one of"):
        get_executor("ray-ish")
