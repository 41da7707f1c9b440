"""The service's figures in Prometheus' text exposition format (``GET /metrics``)."""
from __future__ import annotations

import threading

BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def _labels(pairs) -> str:
    if not pairs:
        return ""
    def escape(value):
        return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    text = ",".join(f'{k}="{escape(v)}"' for k, v in pairs)
    return "{" + text + "}"


class Metrics:
    """Counters of requests and model evaluations, a latency histogram, gauges read at scrape."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = {}     # (route, method, status) -> count
        self.latency = {}      # route -> [bucket counts..., sum, count]
        self.evaluations = {}  # model -> rows evaluated
        self.explanations = {}  # (model, method) -> explanations answered

    def observe(self, route, method, status, seconds):
        with self._lock:
            key = (route, method, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault(route, [0] * len(BUCKETS) + [0.0, 0])
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def explained(self, model, method, n_explanations, n_evaluations):
        with self._lock:
            self.evaluations[model] = self.evaluations.get(model, 0) + n_evaluations
            key = (model, method)
            self.explanations[key] = self.explanations.get(key, 0) + n_explanations

    def render(self, gauges) -> str:
        """The exposition text; ``gauges``: ``{name: (help, {labels tuple: value})}``."""
        lines = []

        def family(name, kind, help_text, samples):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{_labels(labels)} {value:g}" if isinstance(value, float) else
                             f"{name}{_labels(labels)} {value}")

        with self._lock:
            family("blackbox_xai_requests_total", "counter", "HTTP requests answered, by route and status.",
                   [((("route", r), ("method", m), ("status", s)), n) for (r, m, s), n in sorted(self.requests.items())])
            lines.append("# HELP blackbox_xai_request_duration_seconds Time to answer a request, by route.")
            lines.append("# TYPE blackbox_xai_request_duration_seconds histogram")
            for route, hist in sorted(self.latency.items()):
                for bound, n in zip(BUCKETS, hist):
                    lines.append(f'blackbox_xai_request_duration_seconds_bucket{{route="{route}",le="{bound:g}"}} {n}')
                lines.append(f'blackbox_xai_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {hist[-1]}')
                lines.append(f'blackbox_xai_request_duration_seconds_sum{{route="{route}"}} {hist[-2]:.6f}')
                lines.append(f'blackbox_xai_request_duration_seconds_count{{route="{route}"}} {hist[-1]}')
            family("blackbox_xai_model_evaluations_total", "counter", "Model rows evaluated for explain requests.",
                   [((("model", m),), n) for m, n in sorted(self.evaluations.items())])
            family("blackbox_xai_explanations_total", "counter", "Instances explained by explain requests.",
                   [((("model", m), ("method", k)), n) for (m, k), n in sorted(self.explanations.items())])
        for name, (help_text, samples) in sorted(gauges.items()):
            family(name, "gauge", help_text, sorted(samples.items()))
        return "\n".join(lines) + "\n"
