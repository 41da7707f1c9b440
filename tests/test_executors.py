"""Executors: the serial one's reused buffer, threads, resolving executor names."""
import numpy as np
import pytest

from blackbox_xai import Engine, SerialExecutor, ThreadExecutor, as_model
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


def _scaled(shared, x, k):
    return shared * x + k


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_as_completed_gives_every_task_once_with_the_shared_object(executor):
    from blackbox_xai.executors import using

    tasks = [(float(i), i) for i in range(7)]
    with using(executor) as ex:
        got = dict(ex.as_completed(_scaled, tasks, shared=10.0))
    assert got == {i: 10.0 * i + i for i in range(7)}


def test_closing_as_completed_stops_the_queued_tasks():
    ran = []

    def record(shared, i):
        ran.append(i)
        return i

    results = SerialExecutor().as_completed(record, [(i,) for i in range(5)])
    assert next(results) == (0, 0)
    results.close()
    assert ran == [0]


def test_jobs_and_explainers_schedule_through_executors_only():
    """Only executors.py imports ray to run work (jobs and explainers use the task API); the
    service's Ray Serve deployment is the one other user of ray."""
    import pathlib

    import blackbox_xai

    root = pathlib.Path(blackbox_xai.__file__).parent
    importers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                       if "import ray" in p.read_text() or "from ray" in p.read_text())
    assert importers == ["executors.py", "service/ray_serve.py"]
