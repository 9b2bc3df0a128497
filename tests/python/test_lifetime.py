"""Reference counting: results outlive their session and model; nothing leaks over many runs."""

import gc
import os
import tracemalloc

import numpy as np

import heed
from conftest import EXAMPLES


def test_results_stay_valid_after_session_and_model_are_gone(mlp_io):
    inputs, expected = mlp_io
    model = heed.Model(EXAMPLES / "mlp" / "mlp.json")
    session = model.session()
    out = session.run(inputs)
    probs = out["probs"]
    del out, session, model
    gc.collect()
    heed.Model(EXAMPLES / "mlp" / "mlp.json").session().run(inputs)  # reuses the freed memory if it was freed
    np.testing.assert_allclose(probs, expected["probs"], rtol=1e-5, atol=1e-6)
    assert probs.flags.owndata is False and probs.base is not None  # heed's buffer, kept by the array


def test_results_are_writable_and_shareable_with_dlpack(mlp, mlp_io):
    inputs, expected = mlp_io
    probs = mlp.session().run(inputs)["probs"]
    probs[0, 0] = 42.0
    view = np.from_dlpack(probs)
    assert view.ctypes.data == probs.ctypes.data and view[0, 0] == 42.0


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_ten_thousand_runs_do_not_leak(mlp, mlp_io):
    inputs, _ = mlp_io
    session = mlp.session()
    for _ in range(500):  # warm up: plans, arenas, allocator pools
        session.run(inputs)
    gc.collect()
    tracemalloc.start()
    rss_before = rss_bytes()
    py_before, _ = tracemalloc.get_traced_memory()
    for _ in range(10_000):
        out = session.run(inputs)
    del out
    gc.collect()
    py_after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = rss_bytes() - rss_before
    # One run's outputs are a few hundred bytes: a leak of one of them per run would
    # be megabytes over 10,000 runs.
    assert py_after - py_before < 64 * 1024, py_after - py_before
    assert rss_growth < 2 * 1024 * 1024, rss_growth
