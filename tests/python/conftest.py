"""Shared by the Python module's tests: where the repository and the heed tool are,
and a NumPy-only safetensors reader for the reference files PyTorch wrote."""

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(os.environ.get("HEED_SOURCE_DIR", Path(__file__).resolve().parents[2]))
EXAMPLES = ROOT / "examples"
FIXTURES = ROOT / "tests" / "fixtures"

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8,
           "I8": np.int8, "BOOL": np.bool_, "F64": np.float64}


def read_safetensors(path):
    """{name: numpy array} of a safetensors file (what PyTorch's reference scripts wrote)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def heed_tool(*args, stdin=None):
    """The C++ tool's stdout for the same work, to compare the module's results with."""
    tool = os.environ.get("HEED_TOOL", str(ROOT / "build" / "heed"))
    done = subprocess.run([tool, *map(str, args)], input=stdin, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(scope="session")
def mlp():
    import heed
    return heed.Model(EXAMPLES / "mlp" / "mlp.json")


@pytest.fixture(scope="session")
def mlp_io():
    return (read_safetensors(EXAMPLES / "mlp" / "mlp_inputs.safetensors"),
            read_safetensors(EXAMPLES / "mlp" / "mlp_expected.safetensors"))
