"""heed.Session.run: results against PyTorch's, what it accepts (NumPy, PyTorch, DLPack,
lists), when it reads in place, caller-owned outputs, and refusals."""

import numpy as np
import pytest

import heed
from heed import _heed


def test_run_matches_pytorch(mlp, mlp_io):
    # mlp_expected.safetensors: PyTorch's outputs (tests/reference/gen_model_fixtures.py).
    inputs, expected = mlp_io
    out = mlp.session().run(inputs)
    assert set(out) == {"probs", "label"}
    np.testing.assert_allclose(out["probs"], expected["probs"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["label"], expected["label"])
    assert out["probs"].dtype == np.float32 and out["label"].dtype == np.int64


def test_contiguous_arrays_are_read_in_place():
    x = np.random.rand(3, 16).astype(np.float32)
    assert _heed._input_address(x, "f32") == x.ctypes.data
    ids = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert _heed._input_address(ids, "i64") == ids.ctypes.data
    sliced = x[1:]  # contiguous, at an offset
    assert _heed._input_address(sliced, "f32") == sliced.ctypes.data


def test_non_contiguous_arrays_are_copied_and_give_the_same_results(mlp, mlp_io):
    inputs, expected = mlp_io
    x = inputs["x"]
    fortran = np.asfortranarray(x)
    assert _heed._input_address(fortran, "f32") != fortran.ctypes.data
    session = mlp.session()
    np.testing.assert_allclose(session.run({"x": fortran})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)
    # Every other row of a doubled batch, and a reversed view (negative strides).
    doubled = np.repeat(x, 2, axis=0)[::2]
    np.testing.assert_allclose(session.run({"x": doubled})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)
    reversed_rows = x[::-1][::-1]
    np.testing.assert_allclose(session.run({"x": reversed_rows})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)
    flipped = x[::-1]
    np.testing.assert_allclose(session.run({"x": flipped})["probs"], expected["probs"][::-1], rtol=1e-5, atol=1e-6)


def test_misaligned_arrays_are_copied(mlp, mlp_io):
    inputs, expected = mlp_io
    x = inputs["x"]
    n = x.shape[0]
    raw = np.zeros(66 * n + 66, np.uint8)
    odd = np.ndarray(x.shape, np.float32, raw.data, offset=2)  # f32 values 2 bytes off their alignment
    odd[...] = x
    assert _heed._input_address(odd, "f32") != odd.ctypes.data
    np.testing.assert_allclose(mlp.session().run({"x": odd})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)
    # Rows 66 bytes apart: strides that are not whole elements (nanobind cannot view them; NumPy copies).
    base = np.frombuffer(raw.data, np.float32, count=16)
    rows = np.lib.stride_tricks.as_strided(base, shape=x.shape, strides=(66, 4))
    for r in range(n):
        raw[66 * r:66 * r + 64] = x[r].view(np.uint8)
    np.testing.assert_array_equal(rows, x)
    np.testing.assert_allclose(mlp.session().run({"x": rows})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)


def test_more_dimensions_than_heed_takes_are_refused(mlp):
    with pytest.raises(heed.Error, match="input 'x': 9 dimensions, heed takes at most 8"):
        mlp.session().run({"x": np.zeros((1,) * 9, np.float32)})


def test_read_only_arrays_are_accepted(mlp, mlp_io):
    inputs, expected = mlp_io
    x = inputs["x"].copy()
    x.setflags(write=False)
    np.testing.assert_allclose(mlp.session().run({"x": x})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)


class DLPackOnly:
    """An array with the DLPack protocol and nothing else (no buffer protocol)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_dlpack_objects_are_read_in_place(mlp, mlp_io):
    inputs, expected = mlp_io
    x = np.ascontiguousarray(inputs["x"])
    wrapped = DLPackOnly(x)
    assert _heed._input_address(wrapped, "f32") == x.ctypes.data
    np.testing.assert_allclose(mlp.session().run({"x": wrapped})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)


def test_lists_are_read_in_the_graphs_dtype(mlp, mlp_io):
    inputs, expected = mlp_io
    rows = inputs["x"].tolist()  # Python floats: read as f32, the input's dtype
    np.testing.assert_allclose(mlp.session().run({"x": rows})["probs"], expected["probs"], rtol=1e-5, atol=1e-6)


def test_caller_owned_outputs_are_written_in_place(mlp, mlp_io):
    inputs, expected = mlp_io
    n = inputs["x"].shape[0]
    probs = np.full((n, 10), np.nan, dtype=np.float32)
    out = mlp.session().run(inputs, outputs={"probs": probs})
    assert out["probs"] is probs
    np.testing.assert_allclose(probs, expected["probs"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["label"], expected["label"])


def test_caller_owned_outputs_of_the_wrong_type_are_refused(mlp, mlp_io):
    inputs, _ = mlp_io
    n = inputs["x"].shape[0]
    session = mlp.session()
    with pytest.raises(heed.Error, match=r"output 'probs': the array given is not f32 \["):
        session.run(inputs, outputs={"probs": np.zeros((n, 9), np.float32)})
    with pytest.raises(heed.Error, match="output 'probs': the array given is not f32"):
        session.run(inputs, outputs={"probs": np.zeros((n, 10), np.float16)})
    with pytest.raises(heed.Error, match="not C-contiguous"):
        session.run(inputs, outputs={"probs": np.zeros((10, n), np.float32).T})
    with pytest.raises(heed.Error, match="writable array"):
        session.run(inputs, outputs={"probs": [0.0]})


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 16), np.float64), "input 'x': float64 arrays are not supported; the graph takes f32"),
    (np.zeros((2, 16), np.complex64), "input 'x': complex64 arrays are not supported"),
    (np.zeros((2, 15), np.float32), r"input 'x': expected f32\[batch, 16\], got f32\[2, 15\]"),
    (np.zeros((2, 16), np.int64), r"input 'x': expected f32\[batch, 16\], got i64\[2, 16\]"),
    (np.zeros((16,), np.float32), r"input 'x': expected f32\[batch, 16\], got f32\[16\]"),
    (None, "input 'x': None is not an array"),
    ("text", "input 'x': str is not an array"),
    ([[1.0, 2.0], [3.0]], "input 'x': list is not an array"),
])
def test_bad_inputs_raise_heed_error(mlp, bad, message):
    with pytest.raises(heed.Error, match=message):
        mlp.session().run({"x": bad})


def test_missing_and_unknown_inputs_are_named(mlp):
    session = mlp.session()
    with pytest.raises(heed.Error, match=r"input 'x' \(f32\[batch, 16\]\) is missing"):
        session.run({})
    with pytest.raises(heed.Error, match="no input named 'y'"):
        session.run({"x": np.zeros((1, 16), np.float32), "y": np.zeros(1, np.float32)})
    with pytest.raises(TypeError):
        session.run([np.zeros((1, 16), np.float32)])


def test_empty_batch_gives_empty_outputs(mlp):
    out = mlp.session().run({"x": np.zeros((0, 16), np.float32)})
    assert out["probs"].shape == (0, 10) and out["label"].shape == (0,)


def test_session_properties(mlp):
    session = mlp.session()
    assert session.graph == ""
    assert [v.name for v in session.inputs] == ["x"]
    assert [v.name for v in session.outputs] == ["probs", "label"]
    assert "heed.Session" in repr(session)
