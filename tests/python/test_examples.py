"""The scripts in examples/python run and print what the tool prints."""

import os
import subprocess
import sys

from conftest import EXAMPLES, ROOT, heed_tool


def script(name, *args, stdin=None, env=None):
    done = subprocess.run([sys.executable, str(EXAMPLES / "python" / name), *map(str, args)], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_translate_script(tmp_path):
    page = tmp_path / "a.html"
    out = script("translate.py", EXAMPLES / "dates-marian", "--beam", 4, "--attention", page, stdin="3rd of March 2021\n7/4/1976\n")
    assert out == heed_tool("translate", EXAMPLES / "dates-marian", "--beam", 4, stdin="3rd of March 2021\n7/4/1976\n")
    assert "<img" in page.read_text()


def test_translate_script_reports_errors(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "python" / "translate.py"), str(tmp_path / "none"), "x"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and str(tmp_path / "none") in done.stderr


def test_caption_script():
    images = [EXAMPLES / "shapes-test" / f"00{i}.png" for i in range(2)]
    out = script("caption.py", EXAMPLES / "shapes-caption", *images)
    assert [line.split("\t")[1] for line in out.splitlines()] == heed_tool("caption", EXAMPLES / "shapes-caption", *images).splitlines()


def test_walkthrough_runs(tmp_path):
    out = script("walkthrough.py", env={"WALKTHROUGH_OUT": str(tmp_path)})
    assert "slowest node" in out
    assert {p.name for p in tmp_path.iterdir()} == {"mlp_trace.json", "translation_attention.html", "caption_attention.html"}


def test_package_and_examples_type_check_against_the_stubs():
    """The .pyi nanobind generates, the package's annotations and the examples agree (mypy)."""
    import importlib.util

    import heed
    if importlib.util.find_spec("mypy") is None:
        import pytest
        pytest.skip("mypy is not installed (./dev.sh deps installs it)")
    # An installed heed is found by mypy as any installed package; one on PYTHONPATH through MYPYPATH.
    where = os.path.dirname(os.path.dirname(heed.__file__))
    env = dict(os.environ)
    if "site-packages" not in where:
        env["MYPYPATH"] = where
    for target in (["-p", "heed"], [str(EXAMPLES / "python")]):
        done = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-incremental",
                               "--python-version", "3.11", *target], capture_output=True, text=True, cwd=ROOT, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
