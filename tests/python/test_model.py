"""heed.Model: every form Model::load takes, what it tells about itself, and refusals."""

import numpy as np
import pytest

import heed
from conftest import EXAMPLES, FIXTURES, heed_tool, read_safetensors


def test_graph_json_inputs_outputs_and_metadata(mlp):
    assert mlp.graphs == ["main"]
    assert [(v.name, v.dtype, v.shape) for v in mlp.inputs] == [("x", "f32", ["batch", 16])]
    assert [(v.name, v.dtype, v.shape) for v in mlp.outputs] == [("probs", "f32", ["batch", 10]),
                                                                ("label", "i64", ["batch"])]
    assert repr(mlp.inputs[0]) == "ValueInfo('x', f32 [batch, 16])"
    assert isinstance(mlp.metadata, dict)


def test_str_is_heed_inspect(mlp):
    assert str(mlp) == heed_tool("inspect", EXAMPLES / "mlp" / "mlp.json")
    assert str(mlp) == mlp.describe()


def test_checkpoint_directory_has_its_graphs():
    model = heed.Model(EXAMPLES / "dates-marian")
    assert set(model.graphs) >= {"encoder", "decoder_step"}
    assert model.metadata["architecture"]
    ids = [v for v in model.inputs_of("encoder") if v.dtype == "i64"]
    assert ids, "the encoder reads token ids"
    assert str(model) == heed_tool("inspect", EXAMPLES / "dates-marian")


def bert_io():
    io = read_safetensors(FIXTURES / "onnx" / "bert_io.safetensors")
    inputs = {k[6:]: v for k, v in io.items() if k.startswith("input.")}
    return inputs, io["output.y"]


def test_onnx_export_matches_onnxruntime():
    # bert_io.safetensors: onnxruntime's outputs (tests/reference/gen_onnx_fixtures.py).
    model = heed.Model(FIXTURES / "onnx" / "bert.onnx")
    inputs, expected = bert_io()
    assert {v.name: v.dtype for v in model.inputs} == {"input_ids": "i64", "attention_mask": "i64"}
    np.testing.assert_allclose(model.session().run(inputs)["y"], expected, rtol=1e-4, atol=1e-5)


def test_single_file_form_loads_as_the_original(tmp_path):
    single = tmp_path / "bert.safetensors"
    heed_tool("convert", FIXTURES / "onnx" / "bert.onnx", "-o", single)
    inputs, expected = bert_io()
    np.testing.assert_allclose(heed.Model(single).session().run(inputs)["y"], expected, rtol=1e-4, atol=1e-5)


def test_precision_is_chosen_at_load(mlp_io):
    inputs, expected = mlp_io
    model = heed.Model(EXAMPLES / "mlp" / "mlp.json", precision="bf16")
    probs = model.session().run(inputs)["probs"]
    np.testing.assert_allclose(probs, expected["probs"], atol=2e-2)
    with pytest.raises(heed.Error, match="precision"):
        heed.Model(EXAMPLES / "mlp" / "mlp.json", precision="f64")


def test_missing_file_raises_heed_error_naming_it(tmp_path):
    with pytest.raises(heed.Error, match="nowhere.json"):
        heed.Model(tmp_path / "nowhere.json")
    assert issubclass(heed.Error, RuntimeError)


def test_malformed_file_raises_heed_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(heed.Error, match="bad.safetensors"):
        heed.Model(bad)


def test_bad_arguments():
    with pytest.raises(heed.Error, match="device 'tpu'"):
        heed.Model(EXAMPLES / "mlp" / "mlp.json", device="tpu")
    with pytest.raises(heed.Error, match="threads"):
        heed.Model(EXAMPLES / "mlp" / "mlp.json", threads=-1)
    with pytest.raises(TypeError):
        heed.Model(42)


def test_unknown_graph_is_refused(mlp):
    with pytest.raises(heed.Error, match="decoder"):
        mlp.session(graph="decoder")


def test_closed_model_refuses_calls_and_sessions_keep_working(mlp_io):
    inputs, expected = mlp_io
    model = heed.Model(EXAMPLES / "mlp" / "mlp.json")
    session = model.session()
    model.close()
    with pytest.raises(heed.Error, match="closed"):
        model.session()
    with pytest.raises(heed.Error, match="closed"):
        model.inputs
    assert "closed" in repr(model)
    np.testing.assert_allclose(session.run(inputs)["probs"], expected["probs"], rtol=1e-5, atol=1e-6)


def test_context_manager_closes():
    with heed.Model(EXAMPLES / "mlp" / "mlp.json") as model:
        assert model.graphs == ["main"]
    with pytest.raises(heed.Error, match="closed"):
        model.graphs
