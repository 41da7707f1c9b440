"""Every snippet of the README runs as written: each Python block in a fresh namespace, in a
scratch folder; the HTTP one against the tests' loopback server, the command-line one through the
CLI. The two commands of the set-up are what CI runs; the cluster commands are what
test_cluster.py does on loopback."""
import os
import re
import shlex

import joblib
import numpy as np
import pytest

from blackbox_xai.cli import main
from loopback import LoopbackServer

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")


def blocks(language):
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


PYTHON = blocks("python")


def test_the_readme_has_the_snippets_this_file_runs():
    assert len(PYTHON) >= 5
    shell = blocks("bash")
    assert any("examples/compare_cnn_mlp.py" in b for b in shell) and any("pytest" in b for b in shell)


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_snippet_runs(index, tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    code = PYTHON[index]
    url = re.search(r'"(http://127\.0\.0\.1:8080/v2/models/(\w+))"', code)
    service = re.search(r'"(http://127\.0\.0\.1:8000)/v1/models/(\w+):explain"', code)
    if service is not None:  # the service it calls, serving the model it names on a free port
        pytest.importorskip("fastapi", reason="the service extra is not installed")
        _run_against_service(code, service.group(1), service.group(2), tmp_path)
    elif url is None:
        exec(compile(code, f"README.md snippet {index}", "exec"), {"__name__": "__readme__"})
    else:  # the model it names, served by the loopback server on a free port
        with LoopbackServer(lambda rows: np.c_[rows.sum(axis=1), -rows.sum(axis=1)], model=url.group(2)) as server:
            code = code.replace(url.group(1), server.url("v2"))
            exec(compile(code, f"README.md snippet {index}", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out  # every snippet prints what it shows


def _run_against_service(code, base, name, tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from blackbox_xai.service import ModelEntry, create_app, load_config
    from loopback import ServiceThread

    X, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), tmp_path / "clf.joblib")
    config = load_config(None, [ModelEntry(name, str(tmp_path / "clf.joblib"))], jobs_dir=str(tmp_path / "jobs"))
    running = ServiceThread(create_app(config))
    try:
        exec(compile(code.replace(base, running.url), "README.md service snippet", "exec"), {"__name__": "__readme__"})
    finally:
        running.close()


def test_serve_command_of_the_readme_parses():
    from blackbox_xai.cli import build_parser

    (line,) = [line for b in blocks("bash") for line in b.splitlines() if line.startswith("blackbox-xai serve")]
    args = build_parser().parse_args(shlex.split(line.split("#")[0])[1:])
    assert args.model == ["clf=clf.joblib"] and args.port == 8000 and args.host == "127.0.0.1"


def test_cli_snippet_runs(tmp_path, monkeypatch, capsys, digits_mlp):
    clf, X, _ = digits_mlp
    monkeypatch.chdir(tmp_path)
    joblib.dump(clf, "clf.joblib")
    np.save("X.npy", X[:3])
    (shell,) = [b for b in blocks("bash") if "blackbox-xai status" in b]
    for line in shell.strip().splitlines():
        for command in line.split("&&"):
            words = shlex.split(command)
            assert words[0] == "blackbox-xai"
            assert main(words[1:]) == 0, command
    assert "row 0: target" in capsys.readouterr().out


def test_every_call_of_the_coming_from_table_runs():
    """The right-hand column of the README's table of equivalent calls, each call run as written
    against small models of the names it uses."""
    pytest.importorskip("pandas", reason="the table's DataFrame row needs pandas")
    import matplotlib

    matplotlib.use("Agg")
    import torch
    from sklearn.datasets import load_wine
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import blackbox_xai
    from blackbox_xai import plot

    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    table = text[text.index("## Coming from shap, lime or captum"):text.index("What differs on purpose")]
    calls = [c for row in table.splitlines()[4:] if row.startswith("|") for c in re.findall(r"`([^`]+)`", row.split("|")[2])]
    assert len(calls) == 8
    data = load_wine(as_frame=True)
    frame = data.frame.drop(columns="target")
    clf = LogisticRegression(max_iter=5000).fit(frame.to_numpy(), data.target)
    docs = ["good fine film", "bad awful film", "good good plot", "awful bad plot"] * 3
    torch.manual_seed(0)
    names = {**{n: getattr(blackbox_xai, n) for n in blackbox_xai.__all__}, "plot": plot,
             "f": clf.predict_proba, "bg": frame.to_numpy()[:10], "X": frame.to_numpy()[:4],
             "x": frame.to_numpy()[0], "X_train": frame.to_numpy(), "frame": frame.iloc[:4],
             "frame_bg": frame.iloc[:10],
             "text_f": make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 3).predict_proba,
             "doc": "good awful plot", "net": torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)),
             "image": torch.rand(1, 1, 8, 8).numpy(), "t": 1}
    names["results"] = blackbox_xai.KernelShapExplainer(clf.predict_proba, names["bg"]).explain_batch(names["X"])
    names["result"] = names["results"][0]
    shap = pytest.importorskip("shap", reason="the table's shap row needs shap")
    names["shap"] = shap
    for call in calls:
        result = eval(call, names)  # noqa: S307 - the README's own code
        assert result is not None or call.startswith("shap.plots"), call  # shap's plots return None
    import matplotlib.pyplot as plt

    plt.close("all")
