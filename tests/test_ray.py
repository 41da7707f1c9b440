"""RayExecutor: identical to serial for every explainer, fails fast and clearly."""
import threading

import numpy as np
import pytest

from blackbox_xai import KernelShapExplainer, ModelError, RayExecutor, SerialExecutor, SISExplainer, WorkerLostError
from blackbox_xai.executors import get_executor
from helpers import EXPLAINERS, RESHAPE, X_SMALL, assert_same, l2, total



@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_ray_results_equal_serial(ray_local, name):
    X = X_SMALL.reshape((-1,) + RESHAPE.get(name, (12,)))
    serial = EXPLAINERS[name](l2, executor="serial").explain_batch(X)
    assert_same(serial, EXPLAINERS[name](l2, executor="ray").explain_batch(X))
    assert_same(serial, EXPLAINERS[name](l2, executor=RayExecutor(num_workers=1)).explain_batch(X))


def test_sis_of_one_input_split_across_actors_equals_serial(ray_local):
    """One input on two actors: each backward-selection step's candidates are split (explain_batch
    with as many inputs as workers sends whole inputs instead: test_ray_results_equal_serial)."""
    executor = RayExecutor(num_workers=2)
    for mode in ("exact", "fast"):
        serial = SISExplainer(l2, 2.5, mode=mode, executor="serial").explain_batch(X_SMALL)
        assert_same(serial, [SISExplainer(l2, 2.5, mode=mode, executor=executor).explain(x) for x in X_SMALL])
        assert sum(len(c) for c in serial) > 0
    executor.shutdown()


def test_more_parts_than_actors_go_to_whichever_is_idle(ray_local):
    X = np.concatenate([X_SMALL, X_SMALL[::-1] * 0.9])  # 6 inputs, one per part (memory_budget=8)
    want = SISExplainer(l2, 2.5, memory_budget=8, executor="serial").explain_batch(X)
    assert_same(want, SISExplainer(l2, 2.5, memory_budget=8, executor="ray").explain_batch(X))


def test_large_and_small_maskers_reach_the_actors(ray_local):
    """Small maskers travel inside each call, large ones through the object store once."""
    from blackbox_xai.executors import _INLINE_BYTES, _pickled_nbytes
    from blackbox_xai.features import FeatureSpace
    from blackbox_xai.maskers import BackgroundMasker

    background = np.random.default_rng(0).random((1200, 12))
    big = BackgroundMasker(X_SMALL[:1], background, None, FeatureSpace((12,), None))
    assert _pickled_nbytes(big) > _INLINE_BYTES > _pickled_nbytes(BackgroundMasker(
        X_SMALL[:1], background[:5], None, FeatureSpace((12,), None)))
    ks = dict(n_samples=64, random_state=0)
    for bg in (background, background[:5]):
        serial = KernelShapExplainer(l2, bg, executor="serial", **ks).explain(X_SMALL[0])
        on_ray = KernelShapExplainer(l2, bg, executor="ray", **ks).explain(X_SMALL[0])
        assert_same([serial], [on_ray])


def test_ray_on_a_fitted_sklearn_model(ray_local, digits_mlp):
    """A BLAS-backed model is not bit-reproducible across processes (workers run BLAS on one
    thread, the driver on several: sums in another order), so here the SIS must be the same and
    the numbers equal to rounding."""
    clf, X, _ = digits_mlp
    serial = SISExplainer(clf, 0.6, mode="fast", executor="serial").explain_batch(X[:3])
    on_ray = SISExplainer(clf, 0.6, mode="fast", executor="ray").explain_batch(X[:3])
    for a, b in zip(serial, on_ray):
        assert len(a) == len(b)
        for sa, sb in zip(a, b):
            np.testing.assert_array_equal(sa.indices, sb.indices)
            np.testing.assert_allclose(sa.values, sb.values, rtol=1e-12)
    assert sum(len(c) for c in serial) > 0
    ks = dict(n_samples=200, random_state=0, target="all")
    a = KernelShapExplainer(clf, X[:10], executor="serial", **ks).explain(X[20])
    b = KernelShapExplainer(clf, X[:10], executor="ray", **ks).explain(X[20])
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)


def test_warnings_and_errors_found_on_ray_workers_reach_the_caller(ray_local):
    """explain_batch on Ray explains parts of X on the actors: what they find comes back."""
    with pytest.warns(UserWarning) as record:
        got = SISExplainer(total, 3.0, masked_value=1.0, if_masked_sufficient="warn",
                           executor="ray").explain_batch(np.full((2, 4), 2.0))
    assert [str(w.message)[:26] for w in record] == ["2 of 2 inputs have no SIS "]  # one for the batch
    assert [c.reason[:25] for c in got] == ["X[0]: the fully masked in", "X[1]: the fully masked in"]
    assert record[0].filename == __file__  # raised at the caller's line

    def model(batch):
        if np.any(batch == 13.0):
            raise ZeroDivisionError("boom")
        return total(batch)

    with pytest.raises(ModelError, match=r"masked variants of X\[1\]: ZeroDivisionError: boom"):
        SISExplainer(model, 1.0, executor="ray").explain_batch(np.array([[1.0, 2.0], [3.0, 13.0]]))


@pytest.mark.parametrize("batch", [True, False], ids=["whole-inputs", "split-steps"])
def test_a_dead_worker_is_reported_and_the_next_call_starts_fresh_ones(ray_local, batch):
    executor = RayExecutor(num_workers=2)
    explainer = SISExplainer(l2, 2.5, executor=executor)
    run = (lambda: explainer.explain_batch(X_SMALL)) if batch else (lambda: [explainer.explain(x) for x in X_SMALL])
    want = SISExplainer(l2, 2.5, executor="serial").explain_batch(X_SMALL)
    run()
    ray_local.kill(executor._pool["actors"][0])  # as an out-of-memory kill or a crash would
    with pytest.raises(WorkerLostError, match="a Ray worker of this RayExecutor died") as info:
        run()
    assert isinstance(info.value.__cause__, ray_local.exceptions.RayActorError)
    assert executor._pool is None
    assert_same(want, run())  # fresh workers
    executor.shutdown()


def test_default_executor_is_serial_unless_ray_address_is_set(ray_local, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert isinstance(get_executor(None), SerialExecutor)  # a runtime up in the process changes nothing
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    assert isinstance(get_executor(None), RayExecutor)
    assert get_executor("ray") is not get_executor("ray")  # no pool shared behind the callers' backs


def test_an_executor_made_from_a_name_is_closed_after_the_call(ray_local, monkeypatch):
    from blackbox_xai import executors

    made = []

    class Recorded(RayExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setitem(executors.EXECUTORS, "ray", Recorded)
    SISExplainer(l2, 2.5, executor="ray").explain_batch(X_SMALL)
    KernelShapExplainer(l2, X_SMALL, n_samples=40, random_state=0, executor="ray").explain(X_SMALL[0])
    assert len(made) == 2 and all(e._pool is None for e in made)  # their actors are gone
    with RayExecutor(num_workers=1) as mine:  # an instance is the caller's: open until closed
        SISExplainer(l2, 2.5, executor=mine).explain(X_SMALL[0])
        assert mine._pool is not None
    assert mine._pool is None


def test_actors_are_reused_across_calls(ray_local, digits_mlp):
    clf, X, _ = digits_mlp
    executor = RayExecutor(num_workers=2)
    SISExplainer(clf, 0.9, mode="fast", executor=executor).explain(X[0])
    actors = executor._pool["actors"]
    SISExplainer(clf, 0.9, mode="fast", executor=executor).explain(X[1])  # a fresh adapter, same model
    assert executor._pool["actors"] is actors
    executor.shutdown()
    assert executor._pool is None


def test_gpu_request_beyond_the_cluster_fails_at_once(ray_local):
    gpus = int(ray_local.cluster_resources().get("GPU", 0))  # 0 in CI; Ray counts a machine's GPUs
    with pytest.raises(RuntimeError, match=f"num_gpus={gpus + 1} .* {gpus} GPU"):
        SISExplainer(l2, 2.5, executor=RayExecutor(num_gpus=gpus + 1)).explain(X_SMALL[0])


def test_more_workers_than_the_cluster_holds_fail_at_once(ray_local, tmp_path):
    """Refused by the resource check before any actor is asked for (not by the start-up timeout,
    whose message says how many workers started)."""
    from blackbox_xai.jobs import run_job

    cpus = int(ray_local.cluster_resources()["CPU"])
    with pytest.raises(RuntimeError, match=f"asks for {2 * cpus} workers .* holds {cpus} at most"):
        SISExplainer(l2, 2.5, executor=RayExecutor(num_workers=2 * cpus)).explain_batch(X_SMALL)
    with pytest.raises(RuntimeError, match="holds .* at most"):
        run_job(total, X_SMALL, {"method": "occlusion", "window": 2}, tmp_path,
                executor=RayExecutor(num_workers=2 * cpus), progress=False)


class HoldsALock:
    def __init__(self):
        self.lock = threading.Lock()

    def __call__(self, batch):
        return l2(batch)


def test_unpicklable_model_names_the_field(ray_local, tmp_path):
    from blackbox_xai.jobs import run_job

    with pytest.raises(TypeError, match=r"model\.fn\.lock \(lock\) cannot be pickled"):
        SISExplainer(HoldsALock(), 2.5, executor="ray").explain(X_SMALL[0])
    with pytest.raises(TypeError, match=r"explainer\.model\.fn\.lock \(lock\) cannot be pickled") as info:
        run_job(HoldsALock(), X_SMALL, {"method": "occlusion", "window": 2}, tmp_path,
                executor=RayExecutor(num_workers=1), progress=False)
    assert type(info.value) is TypeError  # the library's message, not Ray's serialisation banner


def test_bad_executor_arguments():
    with pytest.raises(ValueError, match="num_workers"):
        RayExecutor(num_workers=0)
    with pytest.raises(ValueError, match="num_gpus"):
        RayExecutor(num_gpus=-1)
    with pytest.raises(ValueError, match="executor must be"):
        get_executor("dask")


def _svc():
    from sklearn.datasets import load_breast_cancer
    from sklearn.svm import SVC

    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :8]
    return SVC(random_state=0).fit(X, y), X  # libsvm wants writable arrays


def test_a_model_that_needs_writable_arrays_works_on_ray(ray_local, tmp_path):
    from blackbox_xai.jobs import load_results, run_job

    svc, X = _svc()
    kwargs = dict(background=X[:10], n_samples=64, random_state=0)
    serial = KernelShapExplainer(svc.decision_function, **kwargs).explain_batch(X[:4])
    on_ray = KernelShapExplainer(svc.decision_function, executor=RayExecutor(num_workers=2), **kwargs)
    assert_same(serial, on_ray.explain_batch(X[:4]))
    run_job(svc.decision_function, X[:4], {"method": "kernelshap", **kwargs}, tmp_path, shard_size=2,
            executor=RayExecutor(num_workers=2), progress=False)
    assert_same(serial, load_results(tmp_path))


def test_errors_on_ray_are_the_librarys_own(ray_local, tmp_path):
    from blackbox_xai import InformativeMaskError
    from blackbox_xai.jobs import run_job

    def model(batch):
        if np.any(batch == 13.0):
            raise ZeroDivisionError("boom")
        return total(batch)

    X = np.array([[1.0, 2.0], [3.0, 13.0]])
    with pytest.raises(ModelError) as info:
        SISExplainer(model, 1.0, executor=RayExecutor(num_workers=2)).explain_batch(X)
    assert type(info.value) is ModelError and "\x1b[" not in str(info.value)  # no Ray wrapper
    with pytest.raises(InformativeMaskError) as info:
        run_job(total, np.ones((4, 2)), {"method": "sis", "threshold": -1.0}, tmp_path, shard_size=2,
                retries=0, executor=RayExecutor(num_workers=2), progress=False)
    # both shards fail; whichever finishes first is raised, named by its first row in the dataset
    assert type(info.value) is InformativeMaskError
    assert str(info.value).startswith(("row 0: the fully masked", "row 2: the fully masked"))
