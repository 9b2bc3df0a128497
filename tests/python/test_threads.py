"""The GIL is released while heed runs: other Python threads go on, and sessions run
in parallel threads; one session shared by threads runs their calls one at a time."""

import json
import threading
import time

import numpy as np
import pytest

import heed


@pytest.fixture(scope="module")
def matmul(tmp_path_factory):
    """A graph with no weights whose runs take long enough to observe: c = a @ b."""
    path = tmp_path_factory.mktemp("matmul") / "matmul.json"
    graph = {"format": "heed.graph", "version": 1, "graphs": {"main": {
        "inputs": [{"name": "a", "dtype": "f32", "shape": ["m", "k"]}, {"name": "b", "dtype": "f32", "shape": ["k", "n"]}],
        "outputs": ["c"], "parameters": [],
        "nodes": [{"name": "mm", "op": "MatMul", "inputs": ["a", "b"], "outputs": ["c"], "attrs": {}}]}}}
    path.write_text(json.dumps(graph))
    return heed.Model(path, threads=1)


def test_other_threads_run_python_while_heed_runs(matmul):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)  # one run: 17 GFLOP, 0.1 s or more on one thread
    session = matmul.session()
    ticks = []
    span = []

    def run():
        begin = time.perf_counter()
        session.run({"a": a, "b": a})
        span.extend([begin, time.perf_counter()])

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())  # Python runs here only while the worker does not hold the GIL
    worker.join()
    # Around the call the threads may switch (a few ms each); inside it, with the
    # GIL held, this thread could not run a single line.
    begin, end = span
    margin = 0.02
    assert end - begin > 3 * margin, "the run is too short to observe"
    inside = [t for t in ticks if begin + margin < t < end - margin]
    assert len(inside) > 100, (len(inside), end - begin)


def test_sessions_in_parallel_threads_give_the_serial_results(matmul):
    rng = np.random.default_rng(1)
    pairs = [(rng.standard_normal((64, 96), dtype=np.float32), rng.standard_normal((96, 48), dtype=np.float32))
             for _ in range(8)]
    serial = [matmul.session().run({"a": a, "b": b})["c"] for a, b in pairs]
    results = [None] * len(pairs)

    def work(i):
        session = matmul.session()
        for _ in range(20):
            results[i] = session.run({"a": pairs[i][0], "b": pairs[i][1]})["c"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(serial[0], pairs[0][0] @ pairs[0][1], rtol=1e-5, atol=1e-5)


def test_one_session_shared_by_threads_runs_their_calls_in_turn(matmul):
    rng = np.random.default_rng(2)
    inputs = [{"a": rng.standard_normal((n, 32), dtype=np.float32), "b": rng.standard_normal((32, n), dtype=np.float32)}
              for n in (16, 24, 40, 8)]
    session = matmul.session()
    errors = []

    def work(i):
        try:
            for _ in range(50):
                c = session.run(inputs[i])["c"]
                np.testing.assert_allclose(c, inputs[i]["a"] @ inputs[i]["b"], rtol=1e-4, atol=1e-4)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
