"""Batch jobs: shards on disk, resume after a crash or a SIGKILL, every row exactly once."""
import os
import signal
import time

import numpy as np
import pytest

from blackbox_xai import BackgroundMean, ModelError, OcclusionExplainer, RayExecutor
from blackbox_xai.jobs import job_status, load_results, run_job
from helpers import start_blocked_job, total

X = np.random.default_rng(0).random((11, 6))
SPEC = {"method": "occlusion", "window": 2}


def assert_complete(out_dir, X=X):
    results = load_results(out_dir)
    assert len(results) == len(X)
    for x, result in zip(X, results):  # every row once, in order, explained right
        np.testing.assert_array_equal(result.x, x)
        np.testing.assert_array_equal(result.values, OcclusionExplainer(total, 2).explain(x).values)
    names = [n for n in os.listdir(os.path.join(out_dir, "shards")) if n.startswith(".tmp")]
    assert names == []


class DiesOnce:
    """Kills its own process the first time it sees the row that starts with 123.0 (a file records
    it, so the retry in another process sees it too): a worker lost, not a model's exception."""

    def __init__(self, marker):
        self.marker = marker

    def __call__(self, batch):
        if not os.path.exists(self.marker) and np.any(batch[:, 0] == 123.0):
            open(self.marker, "w").close()
            os._exit(1)
        return total(batch)


def test_serial_job_resumes_and_refuses_a_different_job(tmp_path):
    status = run_job(total, X[:5], SPEC, tmp_path, shard_size=2, executor="serial", progress=False)
    assert status["complete"] and status["n_shards"] == 3
    with pytest.raises(ValueError, match="different job"):
        run_job(total, X, SPEC, tmp_path, shard_size=2, executor="serial")
    with pytest.raises(ValueError, match="different job"):
        run_job(total, X[:5], {"method": "occlusion", "window": 3}, tmp_path, shard_size=2)


def test_parameters_are_compared_by_value_background_mean_and_numpy_scalars(tmp_path):
    """Parameter objects are described by their contents: two jobs that differ only in the
    background behind BackgroundMean must not be mixed in one folder."""
    data = np.random.default_rng(1).uniform(0.5, 1, (4, 6))
    spec = {"method": "sis", "threshold": 0.3, "target": 0}
    run_job(total, data[:2], {**spec, "masked_value": BackgroundMean(np.zeros((3, 6)))}, tmp_path,
            shard_size=1, executor="serial", progress=False)
    with pytest.raises(ValueError, match="different job"):
        run_job(total, data[:2], {**spec, "masked_value": BackgroundMean(np.full((3, 6), 0.01))},
                tmp_path, shard_size=1, executor="serial", progress=False)
    status = run_job(total, data[:2], {**spec, "masked_value": BackgroundMean(np.zeros((3, 6)))},
                     tmp_path, shard_size=1, executor="serial", progress=False)
    assert status["complete"]
    # NumPy scalars by value, not by type: another window is another job
    occlusion = {"method": "occlusion", "window": np.int64(2)}
    run_job(total, X[:2], occlusion, tmp_path / "occ", shard_size=1, executor="serial", progress=False)
    with pytest.raises(ValueError, match="different job"):
        run_job(total, X[:2], {**occlusion, "window": np.int64(3)}, tmp_path / "occ", shard_size=1,
                executor="serial", progress=False)


def test_missing_shards_are_reported(tmp_path):
    run_job(total, X, SPEC, tmp_path, shard_size=4, executor="serial", progress=False)
    os.rename(tmp_path / "shards" / "00001", tmp_path / "shards" / ".tmp-00001-1")  # a killed write
    status = job_status(tmp_path)
    assert status["missing"] == [1] and not status["complete"]
    with pytest.raises(ValueError, match=r"shards \[1\] are not done"):
        load_results(tmp_path)
    run_job(total, X, SPEC, tmp_path, shard_size=4, executor="serial", progress=False)
    assert_complete(tmp_path)


def test_driver_killed_between_shards_then_rerun(tmp_path):
    """The driver is killed while it explains the third shard (its model blocks there until the
    kill, so no timer decides how far it got); a rerun finishes the job."""
    job = tmp_path / "job"
    proc = start_blocked_job(tmp_path, X, SPEC, shard_size=2, block_after_shards=2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert job_status(job)["done_shards"] == 2
    run_job(total, X, SPEC, job, shard_size=2, executor="serial", progress=False)
    assert_complete(job)


def test_ray_job_retries_a_shard_whose_worker_died(ray_local, tmp_path):
    data = X.copy()
    data[7, 0] = 123.0
    status = run_job(DiesOnce(str(tmp_path / "marker")), data, SPEC, tmp_path / "job", shard_size=3,
                     executor=RayExecutor(num_workers=2), progress=False)
    assert status["complete"] and os.path.exists(tmp_path / "marker")
    assert_complete(tmp_path / "job", data)


def test_a_models_exception_is_not_retried(ray_local, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()

    def fails(batch):
        open(calls / f"{os.getpid()}-{time.monotonic_ns()}", "w").close()
        raise ZeroDivisionError("boom")

    for executor in ("serial", RayExecutor(num_workers=1)):
        with pytest.raises(ModelError, match="ZeroDivisionError: boom"):
            run_job(fails, X[:1], SPEC, tmp_path / str(executor)[:6], shard_size=1, retries=2,
                    executor=executor, progress=False)
    assert len(list(calls.iterdir())) == 2  # one model call each: no retry


def test_ray_job_gpu_request_fails_fast(ray_local, tmp_path):
    with pytest.raises(RuntimeError, match="GPU"):
        run_job(total, X, SPEC, tmp_path, executor=RayExecutor(num_gpus=1), progress=False)


def test_text_job(tmp_path):
    docs = ["good film", "bad film", "a good and bad film"]

    def score(batch):
        return np.array([d.count("good") - d.count("bad") for d in batch], float)

    run_job(score, docs, {"method": "lime", "mode": "text", "n_samples": 50, "random_state": 0},
            tmp_path, shard_size=2, executor="serial", progress=False)
    results = load_results(tmp_path)
    assert [r.x for r in results] == docs


def test_parquet_table_of_a_job(tmp_path):
    pa = pytest.importorskip("pyarrow")
    from blackbox_xai.jobs import load_table

    run_job(total, X, SPEC, tmp_path / "occ", shard_size=4, progress=False)
    assert os.path.exists(tmp_path / "occ" / "shards" / "00000" / "table.parquet")
    table = load_table(tmp_path / "occ")
    assert isinstance(table, pa.Table) and table.column("row").to_pylist() == list(range(len(X)))
    for record, result in zip(table.to_pylist(), load_results(tmp_path / "occ")):
        assert record["method"] == "occlusion" and record["values_shape"] == [6]
        assert record["values"] == result.values.tolist() and record["output"] == [float(result.output)]
    # a shard written without pyarrow is converted from its npz files
    os.remove(tmp_path / "occ" / "shards" / "00001" / "table.parquet")
    assert load_table(tmp_path / "occ").to_pylist() == table.to_pylist()

    from blackbox_xai import SISExplainer

    run_job(total, X[:3], {"method": "sis", "threshold": 2.0}, tmp_path / "sis", shard_size=2, progress=False)
    sis = load_table(tmp_path / "sis").to_pylist()
    want = SISExplainer(total, threshold=2.0).explain_batch(X[:3])
    assert [r["n_sis"] for r in sis] == [len(c) for c in want]
    assert [r["sis_features"] for r in sis] == [[s.features.tolist() for s in c] for c in want]
    with pytest.raises(ValueError, match="not complete"):
        os.rename(tmp_path / "sis" / "shards" / "00001", tmp_path / "gone")
        load_table(tmp_path / "sis")


def test_a_shard_given_a_gpu_moves_the_model_there():
    from blackbox_xai import Model
    from blackbox_xai.jobs import _explain_shard, make_explainer

    class Recording(Model):
        def __init__(self):
            super().__init__("recording")
            self.moved_to = None

        def to_device(self, device):
            self.moved_to = device
            return self

        def _predict(self, batch):
            self.devices_seen.add(self.moved_to)
            return total(batch)

    on_gpu, on_cpu = Recording(), Recording()
    on_gpu.devices_seen, on_cpu.devices_seen = set(), set()
    results, errors = _explain_shard(make_explainer(SPEC, on_gpu), X[:2], use_gpu=True)
    np.testing.assert_array_equal(results[0].values, OcclusionExplainer(total, 2).explain(X[0]).values)
    assert errors == {}
    _explain_shard(make_explainer(SPEC, on_cpu), X[:2])
    assert on_gpu.devices_seen == {"cuda"} and on_cpu.devices_seen == {None}
