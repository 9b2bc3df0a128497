"""PyTorch tensors in, read in place (CPU, contiguous); results as PyTorch computes them.
Skipped, saying so, where PyTorch is not installed (pip install torch)."""

import numpy as np
import pytest

import heed
from heed import _heed
from conftest import EXAMPLES, FIXTURES, read_safetensors

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the PyTorch tensor tests need it")


def test_contiguous_tensors_are_read_in_place():
    t = torch.randn(3, 16)
    assert _heed._input_address(t, "f32") == t.data_ptr()
    ids = torch.arange(12, dtype=torch.int64).reshape(3, 4)
    assert _heed._input_address(ids, "i64") == ids.data_ptr()
    half = torch.randn(2, 5, dtype=torch.bfloat16)
    assert _heed._input_address(half, "bf16") == half.data_ptr()


def test_transposed_tensors_are_copied():
    t = torch.randn(16, 3).T
    assert not t.is_contiguous()
    assert _heed._input_address(t, "f32") != t.data_ptr()


def test_mlp_on_tensors_matches_the_pytorch_module():
    weights = read_safetensors(EXAMPLES / "mlp" / "mlp.safetensors")
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10), torch.nn.Softmax(-1))
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    x = torch.randn(5, 16)
    with torch.no_grad():
        want = net(x).numpy()
    session = heed.Model(EXAMPLES / "mlp" / "mlp.json").session()
    np.testing.assert_allclose(session.run({"x": x})["probs"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(session.run({"x": x.T.contiguous().T})["probs"], want, rtol=1e-5, atol=1e-6)
    out = session.run({"x": x})["probs"]
    assert torch.from_dlpack(out).data_ptr() == out.ctypes.data  # results go back to PyTorch without a copy


def test_int64_tensors_feed_an_onnx_bert():
    io = read_safetensors(FIXTURES / "onnx" / "bert_io.safetensors")
    inputs = {k[6:]: torch.from_numpy(v.copy()) for k, v in io.items() if k.startswith("input.")}
    out = heed.Model(FIXTURES / "onnx" / "bert.onnx").session().run(inputs)["y"]
    np.testing.assert_allclose(out, io["output.y"], rtol=1e-4, atol=1e-5)


def test_tensors_that_need_grad_are_read_as_their_values():
    t = torch.randn(2, 16, requires_grad=True)
    session = heed.Model(EXAMPLES / "mlp" / "mlp.json").session()
    np.testing.assert_array_equal(session.run({"x": t})["probs"], session.run({"x": t.detach().numpy()})["probs"])


def test_a_cuda_tensor_on_a_cpu_session_is_refused():
    if not torch.cuda.is_available():
        pytest.skip("no GPU here: a CUDA tensor cannot be made")
    with pytest.raises(heed.Error, match="input 'x'"):
        heed.Model(EXAMPLES / "mlp" / "mlp.json").session().run({"x": torch.randn(2, 16, device="cuda")})
