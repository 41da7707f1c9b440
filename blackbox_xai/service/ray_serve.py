"""The explanation service on Ray Serve: the same app, routes and answers, in replicas that each
hold the models once (``blackbox-xai serve --ray``).

``RAY_ADDRESS`` names the cluster to deploy on; without it a local Ray runtime is started (and
stopped with the command). Ray Serve's HTTP proxy binds ``host`` (127.0.0.1 unless told). Jobs:
every replica takes submissions and answers for every job; one replica at a time runs them, so the
replicas must share ``jobs_dir`` (one machine, or a shared file system).
"""
from __future__ import annotations

import signal


def _build_app(config, job_workers):  # runs in each replica: the models are loaded there, once
    from blackbox_xai.service.app import create_app

    return create_app(config, job_workers=job_workers)


def deployment(config, *, num_replicas=1, num_cpus=1, job_workers=None):
    """The service as a Ray Serve application (bind it with ``serve.run``)."""
    try:
        from ray import serve
    except ImportError as exc:
        raise ImportError("--ray needs Ray Serve: pip install 'ray[serve]'") from exc

    def build():  # a plain function: Ray Serve calls it in each replica to make the app
        return _build_app(config, job_workers)

    @serve.deployment(name="blackbox-xai", num_replicas=num_replicas, ray_actor_options={"num_cpus": num_cpus})
    @serve.ingress(build)
    class ExplanationService:
        pass

    return ExplanationService.bind()


def serve_on_ray(config, *, host="127.0.0.1", port=8000, num_replicas=1, num_cpus=1, blocking=True):
    """Deploy on Ray Serve and (``blocking``) serve until interrupted (Ctrl-C or SIGTERM); then
    Serve, and a Ray runtime started here, are shut down."""
    from ray import serve

    from blackbox_xai.executors import ensure_ray

    ray = ensure_ray()
    serve.start(http_options={"host": host, "port": port})
    serve.run(deployment(config, num_replicas=num_replicas, num_cpus=num_cpus), name="blackbox-xai",
              route_prefix="/")
    print(f"blackbox-xai: serving {sorted(config.models)} on Ray Serve at http://{host}:{port} "
          f"({num_replicas} replica(s))", flush=True)
    if not blocking:
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        serve.shutdown()
        ray.shutdown()
