"""What the tests share: the spec's small models, the table of explainers the invariant suites
run, and assertions."""
from __future__ import annotations

import gzip
import html
import json
import os
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from blackbox_xai import Attribution, KernelShapExplainer, LimeExplainer, Model, OcclusionExplainer, SISExplainer
from blackbox_xai.features import FeatureSpace
from blackbox_xai.maskers import Masker


# -- the spec's models ----------------------------------------------------------------------------
def l2(batch):
    """L2 norm over the last axis (the spec's L2 model)."""
    return np.linalg.norm(batch, axis=-1)


def total(batch):
    """Sum of all entries per row (the spec's SUM model)."""
    return batch.reshape(len(batch), -1).sum(axis=1)


def linreg(batch):
    """Dot product with [1, 2, 0, 1] (the spec's LINREG model)."""
    return batch @ np.array([1.0, 2.0, 0.0, 1.0])


# -- every explainer, configured for small inputs of 12 features -----------------------------------
RNG = np.random.default_rng(7)
X_SMALL = RNG.random((3, 12)) * 2.0
BACKGROUND = RNG.random((4, 12))


def _sis(mode):
    # deterministic: the seed check just runs it twice
    return lambda model=l2, random_state=None, **kw: SISExplainer(model, 2.5, mode=mode, **kw)


class _Flat:
    """The table's models read rows of 12 numbers; the image explainer hands them 1x3x4 images."""

    def __init__(self, model):
        self.model = model

    def __call__(self, batch):
        return self.model(batch.reshape(len(batch), -1))


def _flat(model):
    return _Flat(model) if callable(model) and not isinstance(model, Model) else model


def _seeded(make):
    """Explainers that draw samples get a fixed seed unless the check gives one."""
    return lambda model=l2, random_state=0, **kw: make(model, random_state=random_state, **kw)


EXPLAINERS = {
    "sis-exact": _sis("exact"),
    "sis-fast": _sis("fast"),
    "kernel-shap": _seeded(lambda model, **kw: KernelShapExplainer(model, BACKGROUND, n_samples=200, **kw)),
    "kernel-shap-auto": _seeded(lambda model, **kw: KernelShapExplainer(model, BACKGROUND, tol=0.02, **kw)),
    "lime-tabular": _seeded(lambda model, **kw: LimeExplainer(model, BACKGROUND, n_samples=300, **kw)),
    "lime-image": _seeded(lambda model, **kw: LimeExplainer(_flat(model), mode="image", grid=(1, 4),
                                                            n_samples=50, channel_axis=0, **kw)),
    # deterministic: the seed check just runs it twice
    "occlusion": lambda model=l2, random_state=None, **kw: OcclusionExplainer(model, 3, strides=2, **kw),
}
# the image explainer sees each row of X_SMALL as a 1x3x4 image
RESHAPE = {"lime-image": (1, 3, 4)}


def assert_same(a, b):
    """Two explain_batch results are identical (bit for bit)."""
    assert len(a) == len(b)
    for ca, cb in zip(a, b):
        if isinstance(ca, Attribution):
            assert ca.target == cb.target and ca.n_evaluations == cb.n_evaluations
            np.testing.assert_array_equal(ca.values, cb.values)
            np.testing.assert_array_equal(ca.base_value, cb.base_value)
            if ca.std_errors is not None:
                np.testing.assert_array_equal(ca.std_errors, cb.std_errors)
            continue
        assert ca.target == cb.target and len(ca) == len(cb), (ca, cb)
        for sa, sb in zip(ca, cb):
            np.testing.assert_array_equal(sa.indices, sb.indices)
            np.testing.assert_array_equal(sa.order, sb.order)
            np.testing.assert_array_equal(sa.values, sb.values)
            assert sa.score == sb.score


# -- engine cases ------------------------------------------------------------------------------------
class Recorder:
    """A model that records the size of every call."""

    def __init__(self):
        self.sizes = []

    def __call__(self, batch):
        self.sizes.append(len(batch))
        return batch.reshape(len(batch), -1).sum(axis=1)


def engine_case(n=10, m=4):
    """``(masker, rows, masks)``: n random masks over 4 features of two inputs."""
    rng = np.random.default_rng(0)
    space = FeatureSpace((m,))
    masker = Masker(rng.random((2, m)), np.zeros(m), space)
    rows = np.repeat([0, 1], [n // 2, n - n // 2])
    masks = rng.random((n, m)) < 0.5
    return masker, rows, masks


# -- a job driver that stops where the test wants it --------------------------------------------
def start_blocked_job(tmp_path, X, spec, *, shard_size, block_after_shards):
    """A serial ``run_job`` over ``X`` into ``tmp_path/job`` in another process, whose model blocks
    (sleeps) once ``block_after_shards`` shards are written. Returns the process once it blocks,
    so no timer decides how far it got."""
    import subprocess
    import sys
    import textwrap
    import time

    np.save(tmp_path / "X.npy", X)
    job, blocked = tmp_path / "job", tmp_path / "blocked"
    gate = job / "shards" / f"{block_after_shards - 1:05d}"
    script = textwrap.dedent(f"""
        import os, time, numpy as np
        from blackbox_xai.jobs import run_job
        def gated(batch):
            if os.path.exists({str(gate)!r}):  # enough shards written: wait here
                open({str(blocked)!r}, "w").close()
                time.sleep(600)
            return batch.reshape(len(batch), -1).sum(axis=1)
        run_job(gated, np.load({str(tmp_path / 'X.npy')!r}), {spec!r}, {str(job)!r},
                shard_size={shard_size}, executor="serial", progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while not blocked.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not blocked.exists():
        proc.kill()
        raise AssertionError("the job's driver never reached the shard it should block in")
    return proc


# -- equality across model calls -------------------------------------------------------------------

# What the library promises where the model sees other calls than in the reference run (another
# batch size, remote requests of another size): a BLAS-backed model's output for a row can change
# in the last bit with the rows that share its call, so results agree to ~1e-12 relative, no more.
ACROSS_CALLS_RTOL = 1e-12


def assert_close_across_calls(actual, desired):
    """``actual`` equals ``desired`` to ``ACROSS_CALLS_RTOL``, relative to the largest magnitude of
    ``desired`` (attributions are differences of outputs: a value near 0 carries the absolute
    error of the outputs, not a relative one of its own)."""
    actual, desired = np.asarray(actual, dtype=float), np.asarray(desired, dtype=float)
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=ACROSS_CALLS_RTOL, atol=ACROSS_CALLS_RTOL * scale)


# -- IDX files -------------------------------------------------------------------------------------
def write_idx(path, array, type_code=0x08):
    """Write ``array`` as an IDX file (gzipped when the name ends in .gz)."""
    array = np.asarray(array)
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    body = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    body += array.astype(dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(body)
    return path


def write_mnist_folder(folder, n_train=40, n_test=20, seed=0, gz=True):
    """An MNIST-shaped folder: 28x28 uint8 images of 10 classes, each class a bright bar of its own."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label: 4 + 2 * label, 4:24] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return folder


# -- pages in a real browser ---------------------------------------------------------------------------
def browser_check(page):
    """Open ``page`` (an HTML file) in headless Chromium with a script added that reports what a
    reader would see: ``{"images": [[src, natural width], ...], "text": visible text}``. Skips the
    test where Chromium is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    page = os.fspath(page)
    probe = os.path.join(os.path.dirname(page), "_browser_check.html")
    script = ("<script>window.addEventListener('load', () => {const r = {images: [...document.images]"
              ".map(i => [i.getAttribute('src'), i.naturalWidth]), text: document.body.innerText};"
              "const p = document.createElement('pre'); p.id = 'browser-check'; p.textContent = JSON.stringify(r);"
              "document.body.appendChild(p);});</script>")
    with open(page, encoding="utf-8") as fh:
        text = fh.read()
    with open(probe, "w", encoding="utf-8") as fh:
        fh.write(text.replace("</body>", script + "</body>"))
    try:
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                              "--virtual-time-budget=10000", "--dump-dom", "file://" + probe],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        os.remove(probe)
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', dom, flags=re.S)
    assert found, f"the page did not finish loading in Chromium: {dom[:500]}"
    return json.loads(html.unescape(found.group(1)))
