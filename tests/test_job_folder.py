"""A job folder is verified, not trusted: shard records, a lock, per-row failures, partial reads,
and one-line CLI errors with documented exit codes."""
import os
import shutil

import numpy as np
import pytest

from blackbox_xai import OcclusionExplainer
from blackbox_xai.cli import main
from blackbox_xai.exceptions import JobError, JobLockedError
from blackbox_xai.jobs import job_status, load_results, run_job
from helpers import start_blocked_job, total

X = np.random.default_rng(4).random((12, 6))
SPEC = {"method": "occlusion", "window": 2}


def _run(out, spec=SPEC, data=X, **kw):
    return run_job(total, data, spec, out, shard_size=4, executor="serial", progress=False, **kw)


def _assert_right(out, spec=SPEC, data=X):
    want = [OcclusionExplainer(total, spec["window"]).explain(x).values for x in data]
    got = load_results(out)
    assert len(got) == len(data)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.values, w)


def test_a_deleted_manifest_never_adopts_shards_of_another_job(tmp_path):
    _run(tmp_path)
    os.remove(tmp_path / "manifest.json")
    status = _run(tmp_path, spec={"method": "occlusion", "window": 3})
    assert status["complete"]
    _assert_right(tmp_path, spec={"method": "occlusion", "window": 3})  # every row redone


def test_a_shard_copied_from_another_job_is_redone(tmp_path):
    _run(tmp_path / "a")
    _run(tmp_path / "b", spec={"method": "occlusion", "window": 3})
    shutil.rmtree(tmp_path / "b" / "shards" / "00001")
    shutil.copytree(tmp_path / "a" / "shards" / "00001", tmp_path / "b" / "shards" / "00001")
    assert job_status(tmp_path / "b")["invalid"] == {1: "it belongs to another job"}
    _run(tmp_path / "b", spec={"method": "occlusion", "window": 3})
    _assert_right(tmp_path / "b", spec={"method": "occlusion", "window": 3})


def _damage(kind, shard):
    files = sorted(p for p in shard.iterdir() if p.suffix == ".npz")
    if kind == "deleted":
        files[1].unlink()
    elif kind == "emptied":
        for p in shard.iterdir():
            p.unlink()
    elif kind == "duplicated":
        shutil.copy(files[0], shard / "row-0000099.npz")
    elif kind == "junk":
        files[2].write_bytes(os.urandom(files[2].stat().st_size))
    elif kind == "truncated":
        files[0].write_bytes(files[0].read_bytes()[:50])


@pytest.mark.parametrize("kind, why", [("deleted", "is missing"), ("emptied", "record.json is missing"),
                                       ("duplicated", "does not list: row-0000099.npz"),
                                       ("junk", "does not match its checksum"), ("truncated", "has 50 bytes")])
def test_a_damaged_shard_is_found_named_and_redone(tmp_path, kind, why):
    _run(tmp_path)
    _damage(kind, tmp_path / "shards" / "00001")
    status = job_status(tmp_path)
    assert not status["complete"] and status["missing"] == [1] and why in status["invalid"][1]
    with pytest.raises(JobError, match=f"shard 1: .*{why}"):
        load_results(tmp_path)
    assert _run(tmp_path)["complete"]
    _assert_right(tmp_path)


def test_a_second_process_is_refused_while_the_first_holds_the_folder(tmp_path):
    job = tmp_path / "job"
    proc = start_blocked_job(tmp_path, X, SPEC, shard_size=4, block_after_shards=1)
    try:
        with pytest.raises(JobLockedError, match=f"is being run by process {proc.pid} on"):
            _run(job)
        import joblib
        from sklearn.linear_model import LogisticRegression

        joblib.dump(LogisticRegression().fit(X, X[:, 0] > 0.5), tmp_path / "clf.joblib")
        assert main(["explain", "--model", str(tmp_path / "clf.joblib"), "--data", str(tmp_path / "X.npy"),
                     "--method", "occlusion", "--window", "2", "--out", str(job), "--no-progress"]) == 3
        assert job_status(job)["done_shards"] == 1  # the first process's work is untouched
    finally:
        proc.kill()
        proc.wait()
    assert _run(job)["complete"]  # the lock died with its process
    _assert_right(job)


def test_a_row_that_raises_is_recorded_and_the_job_completes(tmp_path):
    data = X.copy()
    data[5, 0] = 13.0

    def model(batch):
        if np.any(batch == 13.0):
            raise ZeroDivisionError("boom")
        return total(batch)

    with pytest.raises(Exception, match="ZeroDivisionError: boom"):
        run_job(model, data, SPEC, tmp_path / "raise", shard_size=4, executor="serial", progress=False)
    status = run_job(model, data, SPEC, tmp_path / "record", shard_size=4, executor="serial",
                     on_error="record", progress=False)
    assert status["complete"] and list(status["failed"]) == [5] and "ZeroDivisionError: boom" in status["failed"][5]
    assert "masked variants of row 5:" in status["failed"][5]  # named by its row in the dataset
    results = load_results(tmp_path / "record")
    assert results[5] is None and sum(r is None for r in results) == 1
    np.testing.assert_array_equal(results[4].values, OcclusionExplainer(total, 2).explain(data[4]).values)
    assert run_job(model, data, SPEC, tmp_path / "record", shard_size=4, executor="serial",
                   on_error="record", progress=False)["complete"]  # verified as done: not redone


def test_partial_results_of_an_unfinished_job(tmp_path):
    _run(tmp_path)
    shutil.rmtree(tmp_path / "shards" / "00002")
    with pytest.raises(JobError, match="not complete"):
        load_results(tmp_path)
    results = load_results(tmp_path, partial=True)
    assert [r is None for r in results] == [False] * 8 + [True] * 4


def test_a_wrong_setting_fails_before_any_row(tmp_path):
    from blackbox_xai import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="window of OcclusionExplainer"):
        _run(tmp_path, spec={"method": "occlusion", "window": 0}, on_error="record")
    assert not (tmp_path / "manifest.json").exists()


# -- the command line: one line, a documented exit code ---------------------------------------------
@pytest.fixture()
def files(tmp_path):
    import joblib
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit(X, X[:, 0] > 0.5)
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.save(tmp_path / "X.npy", X)
    return tmp_path


def _cli(files, *extra, out="job"):
    return main(["explain", "--model", str(files / "clf.joblib"), "--data", str(files / "X.npy"),
                 "--method", "occlusion", "--window", "2", "--out", str(files / out), "--no-progress", *extra])


@pytest.mark.parametrize("break_it, words", [
    (lambda f: (f / "clf.joblib").write_bytes(b"\x80\x04junk"), "could not be loaded with joblib"),
    (lambda f: (f / "job").write_text("a file"), "is a file, not a folder"),
    (lambda f: ((f / "job").mkdir(), (f / "job" / "manifest.json").write_text("")), "manifest.json cannot be read"),
    (lambda f: ((f / "job").mkdir(), (f / "job" / "manifest.json").write_text('{"format": "black')),
     "manifest.json cannot be read"),
    (lambda f: ((f / "job").mkdir(), (f / "job" / "manifest.json").write_text("[1, 2]")),
     "is not a blackbox-xai job manifest"),
])
def test_cli_errors_are_one_line_with_exit_code_2(files, capsys, break_it, words):
    break_it(files)
    assert _cli(files) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_cli_lists_failed_rows_and_shows_a_partial_job(files, capsys):
    assert _cli(files) == 0
    shutil.rmtree(files / "job" / "shards" / "00000")
    capsys.readouterr()
    assert main(["show", str(files / "job")]) == 2
    assert "not complete" in capsys.readouterr().err
    assert main(["show", str(files / "job"), "--partial"]) == 0
    out = capsys.readouterr().out
    assert "row 0: not explained" in out and "row 11" not in out  # --rows 10
    assert main(["status", str(files / "job")]) == 0
    assert "1 shard(s) to go" in capsys.readouterr().out


def test_cli_exit_code_1_when_the_explanation_fails(files, capsys):
    np.save(files / "X.npy", X[:, :3])  # the model was fitted on 6 columns
    assert _cli(files) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "failed on masked variants" in err
    assert _cli(files, "--on-error", "record", out="job2") == 0
    assert "12 row(s) failed" in capsys.readouterr().out
