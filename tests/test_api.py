"""The public API: what ``import blackbox_xai`` exports, and that each name is what it says."""
import importlib
import inspect

import blackbox_xai

PUBLIC_MODULES = ["blackbox_xai.adapters", "blackbox_xai.explainers", "blackbox_xai.analysis", "blackbox_xai.lrp"]


def test_every_exported_name_exists_and_is_documented():
    assert len(set(blackbox_xai.__all__)) == len(blackbox_xai.__all__)
    for name in blackbox_xai.__all__:
        obj = getattr(blackbox_xai, name)
        assert inspect.getdoc(obj), f"blackbox_xai.{name} has no docstring"
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", []):
            assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which it does not define"


def test_the_explainers_and_their_results_are_exported():
    for name in ["SISExplainer", "KernelShapExplainer", "LimeExplainer", "OcclusionExplainer", "LRP",
                 "SIS", "SISCollection", "Attribution", "as_model", "clone", "Model", "RemoteModel"]:
        assert name in blackbox_xai.__all__


def test_the_exceptions_subclass_the_builtins():
    assert issubclass(blackbox_xai.ModelError, RuntimeError)
    assert issubclass(blackbox_xai.ModelOutputError, ValueError)
    assert issubclass(blackbox_xai.InvalidParameterError, ValueError)
    assert issubclass(blackbox_xai.InvalidParameterError, TypeError)
    assert issubclass(blackbox_xai.NoSISWarning, UserWarning)


def test_explainers_take_keywords_after_their_first_arguments():
    """One calling convention: the model and at most one defining argument by position."""
    for cls in (blackbox_xai.SISExplainer, blackbox_xai.KernelShapExplainer, blackbox_xai.LimeExplainer,
                blackbox_xai.OcclusionExplainer, blackbox_xai.LRP):
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert len(positional) <= 2, f"{cls.__name__} takes {positional} by position"
