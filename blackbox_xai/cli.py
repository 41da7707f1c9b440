"""The ``blackbox-xai`` command (also ``python -m blackbox_xai``).

    blackbox-xai explain --model model.joblib --data X.npy --method sis --threshold 0.9 --out DIR
    blackbox-xai status DIR
    blackbox-xai show DIR
    blackbox-xai serve --model NAME=model.joblib

Exit codes: 0 done; 1 the explanation failed (the model raised, a row failed); 2 bad arguments,
files or job folder; 3 another process is running the job in that folder. Errors are one line on
stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

METHODS = ("sis", "kernelshap", "lime", "occlusion")

EPILOG = """\
examples:
  blackbox-xai explain --model clf.joblib --data X.npy --method sis --threshold 0.9 \\
      --masked-value mean --background X_train.npy --out out/sis
  blackbox-xai explain --model net.pt --data images.npy --method occlusion --window 4 4 \\
      --strides 2 2 --out out/occ --workers 2
  blackbox-xai explain --model gbm.joblib --data X.npy --method kernelshap --n-samples 2048 \\
      --background-rows 50 --out out/shap --ray-address auto
  blackbox-xai explain --model http://127.0.0.1:8080/v2/models/clf --output predict_proba \\
      --data X.npy --method kernelshap --out out/remote
  blackbox-xai status out/sis
  blackbox-xai show out/sis --rows 5
  blackbox-xai show out/sis --partial          # a job still running, or stopped
  blackbox-xai show out/sis --json > sis.jsonl # every row in the results' JSON form

A job writes one folder per finished shard; run the same command again to resume a job that was
interrupted. Text data for LIME: a .txt file with one document per line.

A model file (.joblib, .pkl) is loaded with joblib, which runs code: load only files you trust.

exit codes: 0 done; 1 the explanation failed; 2 bad arguments, files or job folder; 3 the job
folder is being run by another process.
"""


def load_model(spec, output=None):
    """A model from a path: ``.joblib``/``.pkl`` (joblib), ``.pt``/``.pth`` (TorchScript), or the
    URL of a served model (v2, MLflow or TF Serving; ``output`` picks one of several outputs)."""
    if spec.startswith(("http://", "https://")):
        from blackbox_xai.adapters import RemoteModel

        return RemoteModel(spec, output=output)
    if not os.path.exists(spec):
        raise FileNotFoundError(f"--model {spec}: no such file")
    ext = os.path.splitext(spec)[1].lower()
    if ext in (".joblib", ".pkl", ".pickle"):
        import joblib

        try:
            return joblib.load(spec)
        except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file fails in many ways
            raise ValueError(f"--model {spec} could not be loaded with joblib ({type(exc).__name__}: "
                             f"{exc})") from exc
    if ext in (".pt", ".pth"):
        try:
            import torch
        except ImportError as exc:
            raise ImportError("TorchScript models need torch: pip install 'blackbox-xai[torch]'") from exc
        return torch.jit.load(spec, map_location="cpu")
    raise ValueError(f"--model {spec}: expected a .joblib/.pkl file or a TorchScript .pt file")


def load_data(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as fh:
            return [line.rstrip("\n") for line in fh if line.strip()]
    raise ValueError(f"{path}: expected a .npy array or a .txt file with one document per line")


def explainer_spec(args, data) -> dict:
    """The job's explainer from the command-line options."""
    spec = {"method": args.method}
    if args.target is not None:
        spec["target"] = args.target
    masked = masked_value(args, data)
    if args.method == "sis":
        if args.threshold is None:
            raise ValueError("--method sis needs --threshold")
        spec.update(threshold=args.threshold, mode=args.mode)
        if masked is not None:
            spec["masked_value"] = masked
    elif args.method == "kernelshap":
        background = load_data(args.background) if args.background else data[: args.background_rows]
        spec.update(background=background, random_state=args.random_state,
                    n_samples=args.n_samples if args.n_samples else "auto")
    elif args.method == "lime":
        text = isinstance(data, list)
        spec.update(mode="text" if text else args.lime_mode, random_state=args.random_state,
                    n_samples=args.n_samples or 5000)
        if not text and args.lime_mode == "tabular":
            spec["training_data"] = load_data(args.background) if args.background else data
    else:  # occlusion
        if not args.window:
            raise ValueError("--method occlusion needs --window (e.g. --window 4 4)")
        spec.update(window=tuple(args.window), strides=tuple(args.strides) if args.strides else None)
        if masked is not None:
            spec["masked_value"] = masked
    return spec


def masked_value(args, data):
    """``--masked-value``: None (the explainer's default, 0), a number, the mean input of
    ``--background`` (else of the data) for ``mean``, or one input's values from a .npy file."""
    value = args.masked_value
    if value is None:
        return None
    if args.method not in ("sis", "occlusion"):
        raise ValueError(f"--masked-value applies to --method sis and occlusion, not {args.method}")
    if value == "mean":
        rows = load_data(args.background) if args.background else data
        return np.asarray(rows, dtype=float).mean(axis=0)
    if value.endswith(".npy"):
        return load_data(value)
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"--masked-value must be a number, 'mean' or a .npy file, got {value!r}") from None


def _explain(args):
    from blackbox_xai.executors import RayExecutor
    from blackbox_xai.jobs import run_job

    model = load_model(args.model, output=args.output)
    data = load_data(args.data)
    executor = None
    if args.workers or args.ray_address:
        executor = RayExecutor(num_workers=args.workers, address=args.ray_address)
    status = run_job(model, data, explainer_spec(args, data), args.out, shard_size=args.shard_size,
                     executor=executor, on_error=args.on_error, progress=not args.no_progress)
    _print_status(args.out, status)


def _print_status(out, status):
    state = "complete" if status["complete"] else f"{len(status['missing'])} shard(s) to go"
    print(f"{out}: {status['method']}, {status['done_rows']}/{status['n_rows']} rows, "
          f"{status['done_shards']}/{status['n_shards']} shards, {state}")
    for index, why in status["invalid"].items():
        print(f"  shard {index} does not verify ({why}): a rerun redoes it")
    if status["failed"]:
        rows = sorted(status["failed"])
        print(f"  {len(rows)} row(s) failed: " + "; ".join(f"row {r}: {status['failed'][r]}" for r in rows[:5])
              + ("; ..." if len(rows) > 5 else ""))


def _status(args):
    from blackbox_xai.jobs import job_status

    _print_status(args.dir, job_status(args.dir))


def _show(args):
    from blackbox_xai.explanation import SISCollection
    from blackbox_xai.jobs import load_results

    results = load_results(args.dir, partial=args.partial)
    if args.json:  # every row, as the service's job results: the results' one JSON form
        import json

        from blackbox_xai.jobs import job_status

        failed = job_status(args.dir, checksums=False)["failed"]
        for i, result in enumerate(results):
            if result is not None:
                print(json.dumps({"row": i, "explanation": result.to_json()}))
            elif i in failed:
                print(json.dumps({"row": i, "error": failed[i]}))
        return
    for i, result in enumerate(results[: args.rows]):
        if result is None:
            print(f"row {i}: not explained (failed, or its shard is not done)")
            continue
        if isinstance(result, SISCollection):
            sizes = [s.size for s in result]
            print(f"row {i}: target {result.target}, {len(result)} SIS, sizes {sizes}, "
                  f"{result.n_evaluations} evaluations")
            if result.reason:
                print(f"  no SIS: {result.reason}")
            continue
        values = np.asarray(result.values)
        flat = values.reshape(values.shape[0], -1).sum(axis=1) if values.ndim > 1 and result.target == "all" \
            else values.ravel()
        top = np.argsort(-np.abs(flat))[: args.top]
        names = result.feature_names or [str(np.unravel_index(j, values.shape) if values.ndim > 1 else j)
                                         for j in range(flat.size)]
        listed = ", ".join(f"{names[j]}: {flat[j]:+.4g}" for j in top)
        print(f"row {i}: target {result.target}, top |values|: {listed}")
    if len(results) > args.rows:
        print(f"... {len(results) - args.rows} more rows (--rows)")


def _serve(args):
    from blackbox_xai.service import load_config, serve

    token = None
    if args.token_file:
        with open(args.token_file) as fh:
            token = fh.read().strip()
        if not token:
            raise ValueError(f"--token-file {args.token_file} is empty")
    elif os.environ.get("BLACKBOX_XAI_TOKEN"):
        token = os.environ["BLACKBOX_XAI_TOKEN"].strip()
    limits = {k: v for k, v in (("max_instances", args.max_instances), ("max_evaluations", args.max_evaluations),
                                ("timeout_s", args.timeout), ("max_concurrent", args.max_concurrent),
                                ("max_running_jobs", args.max_running_jobs)) if v is not None}
    config = load_config(args.config, args.model or (), token=token, jobs_dir=args.jobs_dir, limits=limits)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not token:
        print(f"blackbox-xai serve: warning: listening on {args.host} without a token: anyone who can reach "
              "it can use the models; set --token-file or BLACKBOX_XAI_TOKEN", file=sys.stderr)
    if args.ray:
        from blackbox_xai.service.ray_serve import serve_on_ray

        serve_on_ray(config, host=args.host, port=args.port, num_replicas=args.replicas)
        return
    serve(config, host=args.host, port=args.port, job_workers=args.job_workers)


SERVE_EPILOG = """\
examples:
  blackbox-xai serve --model clf=clf.joblib
  blackbox-xai serve --model m=http://127.0.0.1:8080/v2/models/m --port 8100 --token-file token.txt
  blackbox-xai serve --config service.json --host 0.0.0.0 --token-file token.txt
  curl -s localhost:8000/v1/models/clf:explain -d '{"instances": [[5.1, 3.5, 1.4, 0.2]],
      "method": "sis", "parameters": {"threshold": 0.9}}'

Binds 127.0.0.1 unless --host says otherwise; on any other interface set a token (--token-file or
the BLACKBOX_XAI_TOKEN environment variable): every route but /healthz and /readyz then needs
"Authorization: Bearer <token>".

A model file (.joblib, .pkl) is loaded with joblib, which runs code: load only files you trust.
Requests can only name configured models; nothing in a request names a file or code.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blackbox-xai", description="Explain any model you can call: SIS, KernelSHAP, LIME, "
        "occlusion, over whole datasets, on Ray when asked.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("explain", help="explain every row of a dataset into a job folder",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("--model", required=True,
                    help="model.joblib / model.pkl (loaded with joblib, which runs code: only files you "
                    "trust), TorchScript model.pt, or the URL of a served model: "
                    "http://host:port/v2/models/NAME (KServe, MLServer, Triton), .../invocations "
                    "(MLflow), .../v1/models/NAME (TF Serving)")
    ex.add_argument("--output", help="served model: which output to explain (e.g. predict_proba)")
    ex.add_argument("--data", required=True, help="inputs: X.npy (N, ...), or docs.txt for text LIME")
    ex.add_argument("--method", required=True, choices=METHODS)
    ex.add_argument("--out", required=True, help="job folder (created; an existing one resumes)")
    ex.add_argument("--target", type=int, help="output column to explain (default: predicted class)")
    ex.add_argument("--threshold", type=float, help="sis: the sufficiency threshold")
    ex.add_argument("--mode", default="exact", choices=("exact", "fast"), help="sis: search mode")
    ex.add_argument("--n-samples", type=int, help="kernelshap: coalitions (default auto); lime: samples")
    ex.add_argument("--masked-value", metavar="VALUE",
                    help="sis and occlusion: the value masked features take. A number "
                    "(default 0), 'mean' (the mean row of --background, else of --data: the usual "
                    "training-mean masking) or a .npy file holding one input")
    ex.add_argument("--background", help="kernelshap: background .npy; lime: training data .npy; "
                    "--masked-value mean: the rows to average")
    ex.add_argument("--background-rows", type=int, default=50,
                    help="kernelshap without --background: the first N rows of the data (default 50)")
    ex.add_argument("--lime-mode", default="tabular", choices=("tabular", "image"))
    ex.add_argument("--window", type=int, nargs="+", help="occlusion: window shape (trailing axes)")
    ex.add_argument("--strides", type=int, nargs="+", help="occlusion: strides (default 1)")
    ex.add_argument("--random-state", type=int, default=0)
    ex.add_argument("--shard-size", type=int, default=64, help="rows per shard (default 64)")
    ex.add_argument("--workers", type=int, help="Ray workers (starts or joins Ray)")
    ex.add_argument("--ray-address", help="Ray cluster to join, e.g. auto (default: RAY_ADDRESS)")
    ex.add_argument("--on-error", default="raise", choices=("raise", "record"),
                    help="a row whose explanation raises: stop (raise, default) or record its error "
                    "and go on (record; status and show list the failed rows)")
    ex.add_argument("--no-progress", action="store_true", help="no progress bar")
    ex.set_defaults(run=_explain)

    st = sub.add_parser("status", help="how far a job folder is")
    st.add_argument("dir")
    st.set_defaults(run=_status)

    sh = sub.add_parser("show", help="summarise the results of a finished job")
    sh.add_argument("dir")
    sh.add_argument("--rows", type=int, default=10, help="rows to show (default 10)")
    sh.add_argument("--top", type=int, default=5, help="attributions: largest values per row")
    sh.add_argument("--partial", action="store_true", help="show the rows done so far of an unfinished job")
    sh.add_argument("--json", action="store_true", help="every row as a JSON line {row, explanation} (the "
                    "results' JSON form, read back with blackbox_xai.result_from_json) or {row, error}")
    sh.set_defaults(run=_show)
    sv = sub.add_parser("serve", help="explain over HTTP (needs the serve extra)", epilog=SERVE_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sv.add_argument("--model", action="append", metavar="NAME=SOURCE",
                    help="a model to serve: NAME=model.joblib (loaded with joblib, which runs code: only "
                    "files you trust), NAME=model.pt, or NAME=http://host:port/v2/models/m (repeatable)")
    sv.add_argument("--config", help="a JSON config file: models, their default settings and backgrounds, limits")
    sv.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--token-file", help="a file holding the bearer token every route but health requires")
    sv.add_argument("--jobs-dir", help="where dataset jobs live (default ./blackbox-xai-jobs); a restarted "
                    "service resumes the unfinished ones")
    sv.add_argument("--max-instances", type=int, help="instances per explain request (default 256)")
    sv.add_argument("--max-evaluations", type=int, help="model evaluations per explain request (default 5e6)")
    sv.add_argument("--timeout", type=float, help="seconds per explain request (default 120)")
    sv.add_argument("--max-concurrent", type=int, help="explanations computed at once (default 2)")
    sv.add_argument("--max-running-jobs", type=int, help="dataset jobs run at once (default 1)")
    sv.add_argument("--job-workers", type=int, help="Ray workers per dataset job (default: serial, or "
                    "Ray when RAY_ADDRESS is set)")
    sv.add_argument("--ray", action="store_true", help="deploy on Ray Serve (RAY_ADDRESS or a new local Ray)")
    sv.add_argument("--replicas", type=int, default=1, help="--ray: replicas, each holding the models once")
    sv.set_defaults(run=_serve)
    return parser


def main(argv=None) -> int:
    from blackbox_xai.exceptions import JobLockedError, ModelError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except JobLockedError as exc:
        return _error(exc, 3)
    except ModelError as exc:  # before ValueError: a ModelOutputError is one too
        return _error(exc, 1)
    except (ValueError, TypeError, ImportError, OSError) as exc:  # arguments, files, job folders
        return _error(exc, 2)
    except RuntimeError as exc:  # the explanation failed (a lost worker, a cluster that cannot host it)
        return _error(exc, 1)
    return 0


def _error(exc, code) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"blackbox-xai: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
