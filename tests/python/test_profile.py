"""Session.profile(): rows, the table and the Chrome trace."""

import json

import heed
from conftest import EXAMPLES


def test_profile_rows_table_and_trace(mlp_io, tmp_path):
    inputs, _ = mlp_io
    session = heed.Model(EXAMPLES / "mlp" / "mlp.json").session(profile=True)
    for _ in range(3):
        session.run(inputs)
    profile = session.profile()
    assert profile.runs == 3 and profile.run_total_us > 0
    assert sorted(row.node for row in profile.rows) == ["argmax", "fc1", "fc2", "softmax"]
    fc1 = next(row for row in profile if row.node == "fc1")
    assert fc1.op == "Linear" and fc1.calls == 3 and fc1.total_us > 0
    assert abs(fc1.mean_us - fc1.total_us / 3) < 1e-9
    assert (fc1.input_shapes, fc1.output_shapes) == ("[4, 16] [32, 16] [32]", "[4, 32]")
    assert "fc1" in profile.table() and str(profile) == profile.table()
    trace = tmp_path / "trace.json"
    profile.to_chrome_trace(trace)
    events = json.loads(trace.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    complete = [e for e in events if e.get("ph") == "X"]
    assert len(complete) == 3 * 4
    assert {e["args"]["op_name"] for e in complete} == {"Linear", "ArgMax", "Softmax"}
    assert all("dur" in e and "ts" in e for e in complete)
    session.reset_profile()
    assert session.profile().runs == 0


def test_profile_without_profiling_is_empty(mlp, mlp_io):
    inputs, _ = mlp_io
    session = mlp.session()
    session.run(inputs)
    assert len(session.profile()) == 0
