"""What the ``model`` field may name, checked without building anything.

Three forms: a built-in CIFAR ResNet (``resnet18``), a user's factory
(``package.module:factory``, called with ``num_classes`` and, when it takes it,
``width``) or any timm architecture (``timm:<name>``, trained from scratch, no
weights downloaded). ``check_model_ref`` imports the factory (or timm) so that a
typo fails while the config is validated, before a run or a study exists. This
module imports neither torch nor timm until a factory or timm name is checked.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

BUILTIN_MODELS: tuple[str, ...] = ("resnet18", "resnet34", "resnet50")
TIMM_PREFIX = "timm:"
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def check_model_ref(ref: str) -> str:
    """``ref`` if it names a model that can be built; else ``ValueError`` saying what is wrong."""
    if ref in BUILTIN_MODELS:
        return ref
    if ref.startswith(TIMM_PREFIX):
        _check_timm(ref[len(TIMM_PREFIX) :])
        return ref
    if ":" in ref:
        resolve_factory(ref)
        return ref
    raise ValueError(
        f"unknown model {ref!r}: expected {', '.join(BUILTIN_MODELS)}, "
        "'package.module:factory' (your own) or 'timm:<name>'"
    )


def resolve_factory(ref: str) -> Callable[..., Any]:
    """The callable that ``package.module:factory`` names (ValueError if it cannot be imported)."""
    if not _FACTORY.match(ref):
        raise ValueError(f"model {ref!r}: expected 'package.module:factory'")
    module_name, attr_path = ref.split(":", 1)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"model {ref!r}: cannot import {module_name} ({exc})") from None
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise ValueError(f"model {ref!r}: {module_name} has no attribute {attr_path!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"model {ref!r}: {attr_path} is not callable")
    if not _accepts(target, "num_classes"):
        raise ValueError(f"model {ref!r}: the factory must take a num_classes argument")
    return target


def _accepts(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` can be called with keyword ``name`` (directly or through **kwargs)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: let the call decide
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _names(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _check_timm(name: str) -> None:
    try:
        import timm
    except ImportError:
        raise ValueError(
            f"model 'timm:{name}' needs timm: pip install 'cifarsweep[timm]' (or pip install timm)"
        ) from None
    if not timm.is_model(name):
        raise ValueError(f"model 'timm:{name}': timm has no architecture {name!r} (see timm.list_models())")


def build_from_ref(ref: str, num_classes: int, width: int) -> Any:
    """A user's factory or a timm model (from scratch) with ``num_classes`` outputs."""
    if ref.startswith(TIMM_PREFIX):
        import timm

        _check_timm(ref[len(TIMM_PREFIX) :])
        return timm.create_model(ref[len(TIMM_PREFIX) :], pretrained=False, num_classes=num_classes)
    factory = resolve_factory(ref)
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if _names(factory, "width"):  # only a named parameter: **kwargs may be passed on to something else
        kwargs["width"] = width
    return factory(**kwargs)
