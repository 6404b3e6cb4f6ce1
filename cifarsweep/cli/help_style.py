"""``--help`` in the usual form: flags show no value type, arguments read ``SPEC_PATH`` or ``[SWEEP]``.

Typer 0.29 shows a type for every option (``--surface-3d <bool>``, even ``--help
<bool>``) and puts required arguments in braces (``{spec_path}``); these small
overrides restore what click and earlier Typer versions print.
"""

from __future__ import annotations

from typing import Any

from typer import core

_PATCHED = "_cifarsweep_help_style"


def _argument_name(argument: core.TyperArgument) -> str:
    return argument.metavar or (argument.name or "").upper()


def _usage_name(argument: core.TyperArgument) -> str:
    name = _argument_name(argument)
    if argument.nargs != 1:
        name += "..."
    return name if argument.required else f"[{name}]"


def install_help_style() -> None:
    """Apply the overrides once (importing the CLI does it)."""
    if getattr(core, _PATCHED, False):
        return
    show_type = core.TyperOption.display_type_rich

    def option_type(option: core.TyperOption, ctx: Any) -> str | None:
        if option.is_flag and option.metavar is None:
            return None  # a flag takes no value
        return show_type(option, ctx)

    # These replace methods of Typer's classes: mypy sees a method assignment of another signature.
    core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign,assignment]
    core.TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[method-assign,assignment]
    core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign,assignment]
    setattr(core, _PATCHED, True)
