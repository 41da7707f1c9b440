"""The torch adapter and the explainers on a CUDA device agree with the same model on the CPU.

Skipped where torch has no CUDA device (CI has none); run on a GPU machine with
``python -m pytest tests/test_gpu.py``.
"""
import copy
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

from blackbox_xai import (  # noqa: E402
    KernelShapExplainer,
    OcclusionExplainer,
    RayExecutor,
    SISExplainer,
    as_model,
)


class CudaOnly(torch.nn.Module):
    """Refuses inputs that are not on a GPU: a run that succeeds evaluated everything there."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        if not x.is_cuda:
            raise RuntimeError(f"evaluated on {x.device}, not on a GPU")
        return self.net(x)


def _cnn(dtype):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(6 * 6 * 6, 3),
    )
    return net.to(dtype)


@pytest.fixture(scope="module")
def pair():
    """The same float64 CNN on the CPU and on the GPU (float64: the two agree to rounding)."""
    net = _cnn(torch.float64)
    cpu = as_model(net, postprocess="softmax")
    gpu = as_model(copy.deepcopy(net), device="cuda", postprocess="softmax")
    X = np.random.default_rng(0).random((6, 1, 12, 12))
    return cpu, gpu, X


def test_gpu_model_runs_on_the_device_and_matches_the_cpu(pair):
    cpu, gpu, X = pair
    assert gpu.device.startswith("cuda") and gpu.batch_size is None  # no CPU batch limit on a GPU
    assert next(gpu.module.parameters()).device.type == "cuda"
    np.testing.assert_allclose(gpu(X), cpu(X), rtol=0, atol=1e-12)
    moved = as_model(_cnn(torch.float32)).to_device("cuda")  # what a Ray GPU worker does
    assert next(moved.module.parameters()).device.type == "cuda" and moved.device.startswith("cuda")
    np.testing.assert_allclose(moved(X), as_model(_cnn(torch.float32))(X), atol=1e-5)
    again = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_allclose(again(X), gpu(X), rtol=0, atol=1e-12)


def test_explainers_agree_between_cpu_and_gpu(pair):
    cpu, gpu, X = pair
    x = X[0]
    occ = [OcclusionExplainer(m, window=(1, 3, 3), strides=(1, 2, 2)).explain(x) for m in (cpu, gpu)]
    np.testing.assert_allclose(occ[1].values, occ[0].values, rtol=0, atol=1e-10)
    assert occ[0].n_evaluations == occ[1].n_evaluations
    rows = np.arange(144).reshape(1, 12, 12) // 12  # one feature per image row
    shap = [KernelShapExplainer(m, X[1:4], n_samples=300, groups=rows, random_state=0).explain(x)
            for m in (cpu, gpu)]
    np.testing.assert_allclose(shap[1].values, shap[0].values, rtol=0, atol=1e-10)
    target = int(np.argmax(cpu(x[None])[0]))
    threshold = 0.9 * float(cpu(x[None])[0, target])
    sis = [SISExplainer(m, threshold, masked_value=0.0, target=target).explain(x) for m in (cpu, gpu)]
    assert len(sis[0]) == len(sis[1]) >= 1
    for a, b in zip(sis[0], sis[1]):
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.score == pytest.approx(b.score, abs=1e-10)


def test_ray_gpu_workers_move_the_model_to_their_gpu(ray_local, pair):
    """RayExecutor(num_gpus=...) hands each actor a share of the GPU and moves the torch model
    there: a module that refuses CPU inputs, adapted on the CPU in this process, still runs, and
    matches the serial CPU run. Asking for more GPUs than the cluster has fails at once."""
    cpu, _, X = pair
    gpu_only = as_model(CudaOnly(copy.deepcopy(cpu.module)), postprocess="softmax")
    with pytest.raises(RuntimeError, match="not on a GPU"):
        gpu_only(X[:1])
    executor = RayExecutor(num_workers=2, num_gpus=0.5)
    serial = OcclusionExplainer(cpu, window=(1, 3, 3), strides=(1, 2, 2)).explain_batch(X[:3])
    on_gpus = OcclusionExplainer(gpu_only, window=(1, 3, 3), strides=(1, 2, 2), executor=executor).explain_batch(X[:3])
    for a, b in zip(serial, on_gpus):
        np.testing.assert_allclose(b.values, a.values, rtol=0, atol=1e-12)
    gpus = ray_local.cluster_resources()["GPU"]
    with pytest.raises(RuntimeError, match="Ray would wait forever"):
        RayExecutor(num_workers=1, num_gpus=gpus + 1).connect()
