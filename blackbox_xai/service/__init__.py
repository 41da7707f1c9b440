"""The explanation service: explanations over HTTP beside the model server.

``pip install 'blackbox-xai[serve]'`` (FastAPI, uvicorn), then::

    blackbox-xai serve --model clf=clf.joblib --model remote=http://127.0.0.1:8080/v2/models/m

- :mod:`~blackbox_xai.service.config`: what is served (models, defaults, limits), fixed at start;
- :mod:`~blackbox_xai.service.explain`: one explain request, from JSON to JSON;
- :mod:`~blackbox_xai.service.jobs`: dataset jobs, run by worker processes, resumed after a restart;
- :mod:`~blackbox_xai.service.app`: the routes (:func:`create_app`);
- :mod:`~blackbox_xai.service.ray_serve`: the same app on Ray Serve.
"""
from blackbox_xai.service.config import Limits, ModelEntry, ServiceConfig, load_config

__all__ = ["create_app", "load_config", "serve", "Limits", "ModelEntry", "ServiceConfig"]


def create_app(config, **kwargs):
    """See :func:`blackbox_xai.service.app.create_app`."""
    from blackbox_xai.service.app import create_app as _create_app

    return _create_app(config, **kwargs)


def serve(config, *, host="127.0.0.1", port=8000, job_workers=None, log_level="info"):
    """Run the service with uvicorn until interrupted (binds ``host``: 127.0.0.1 unless told)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError("the service needs its extra: pip install 'blackbox-xai[serve]'") from exc
    uvicorn.run(create_app(config, job_workers=job_workers), host=host, port=port, log_level=log_level)
