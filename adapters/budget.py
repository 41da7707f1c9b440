"""A model with limits: at most so many evaluations, and no call after a deadline.

The service wraps each request's model in one, so a request cannot spend more than it is allowed
and stops at its next model call once its time is up (a thread cannot be killed; it can be
refused the next batch).
"""
from __future__ import annotations

import threading
import time

from blackbox_xai.adapters.base import Model
from blackbox_xai.exceptions import BudgetExceededError


class BudgetedModel(Model):
    """``model`` (any :class:`Model`) that raises
    :class:`~blackbox_xai.exceptions.BudgetExceededError` instead of evaluating more than
    ``max_evaluations`` rows in all, or of starting a call after ``deadline`` (a
    ``time.monotonic()`` value). Either limit may be None. Counts the calls made through this
    object in this process; ``n_evaluations`` is the rows evaluated so far."""

    def __init__(self, model: Model, *, max_evaluations=None, deadline=None):
        super().__init__(model.name, batch_size=model.batch_size, device=model.device, n_outputs=model.n_outputs)
        self.model = model
        self.max_evaluations = max_evaluations
        self.deadline = deadline
        self.n_evaluations = 0
        self.output_kind = model.output_kind
        self.input_dtype = model.input_dtype
        self.chunk_bytes = model.chunk_bytes
        self._lock = threading.Lock()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_lock")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _predict(self, batch):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExceededError(f"model {self.name}: the time allowed for this explanation is up",
                                      kind="time")
        with self._lock:
            if self.max_evaluations is not None and self.n_evaluations + len(batch) > self.max_evaluations:
                raise BudgetExceededError(
                    f"model {self.name}: the explanation needs more than the {self.max_evaluations} model "
                    f"evaluations allowed ({self.n_evaluations} done, {len(batch)} more asked)", kind="evaluations")
            self.n_evaluations += len(batch)
        return self.model(batch)
