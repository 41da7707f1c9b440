"""Exceptions and warnings of blackbox-xai.

Every exception subclasses a built-in (``ValueError`` or ``RuntimeError``) so callers that already
catch those keep working.
"""


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a value outside its declared constraints (a ValueError and a TypeError, as
    scikit-learn's, so code that catches either keeps working). The message names the parameter,
    what it accepts and what came."""


class ModelError(RuntimeError):
    """The model raised while evaluating masked inputs (the original exception is chained)."""


class ModelOutputError(ModelError, ValueError):
    """The model returned something that breaks the model contract (shape, NaN/inf)."""


class InformativeMaskError(ValueError):
    """The fully masked input already reaches the threshold, so every subset is 'sufficient'."""


class NoSISWarning(UserWarning):
    """No SIS was found for an input: the input itself does not reach the threshold, or the fully
    masked input already does. ``SISCollection.reason`` says which."""


class InsufficientSISWarning(UserWarning):
    """A returned SIS did not reach the threshold when re-evaluated on its own (non-monotone or
    non-deterministic model)."""


class AdapterNote(UserWarning):
    """A one-line note from an adapter about how it reads a model (e.g. predict -> predict_proba)."""


class RemoteModelError(ModelError):
    """A model server refused a request or could not be reached (after the retries it allows).

    ``status`` is the HTTP status of the last answer, or None when no answer came."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class JobError(ValueError):
    """A job folder cannot be used as asked: it holds another job, its manifest is unreadable, or
    ``out_dir`` is not a folder. The message names the file."""


class JobLockedError(RuntimeError):
    """Another live process is running the job in this folder (it holds the folder's lock)."""


class WorkerLostError(RuntimeError):
    """A Ray worker died while it held the model (out of memory, a crash in native code, a lost
    node). Its executor has released the workers; the next call starts fresh ones."""


class BudgetExceededError(RuntimeError):
    """An explanation was stopped by a limit its caller set on the model
    (:class:`~blackbox_xai.adapters.BudgetedModel`): ``kind`` is ``"evaluations"`` (more model
    rows than allowed) or ``"time"`` (past the deadline)."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


# failures that are no input's doing (the server, the network, a worker, a caller's limit):
# never located input by input, never recorded as one row's failure
NOT_AN_INPUTS_FAULT = (RemoteModelError, WorkerLostError, BudgetExceededError)
