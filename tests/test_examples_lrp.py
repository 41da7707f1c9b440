"""The LRP examples run end to end and write their reports (small settings)."""
import os
import runpy
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_example(name, *args, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(os.path.join(HERE, "..", "examples", name), run_name="__main__")


def test_lrp_text_example(tmp_path, monkeypatch, capsys):
    run_example("lrp_text.py", "--out", str(tmp_path), monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert "max |residual|" in out and "word deletion AOPC" in out
    page = (tmp_path / "report.html").read_text()
    assert page.count("<span") > 50


def test_lrp_fisher_vectors_example(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    run_example("lrp_fisher_vectors.py", "--out", str(tmp_path), "--train", "300", monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert "Clever Hans" in out
    assert (tmp_path / "heatmaps.png").stat().st_size > 0 and (tmp_path / "clever_hans.png").stat().st_size > 0
