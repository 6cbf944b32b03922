"""Routed parameters (``prefix__name``), as SciKeras defined them, and what they build.

A wrapper's parameters go to several places: the model-building function (``model__``), Keras'
``fit``/``predict``/``compile`` (``fit__``, ``predict__``, ``compile__``), and the optimizer,
losses, metrics and callbacks, which may be given as classes to build with routed arguments
(``optimizer__momentum=0.9``, ``loss__from_logits=True``, ``callbacks__0__patience=3``), also
inside lists and dicts (``metrics__0__name``, ``loss__out1__from_logits``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def route_params(
    params: Mapping[str, Any], destination: str, pass_filter: Iterable[str] | None, strict: bool = False
) -> dict[str, Any]:
    """Parameters for ``destination``: unprefixed ones named in ``pass_filter`` (all of them when
    None), then ``destination__name`` ones with the prefix removed (they win). With ``strict``,
    names that route further (``destination__a__b``) are left out."""
    routed_to_here = {}
    plain = {}
    prefix = destination + "__"
    for key, value in params.items():
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            if not (strict and "__" in rest):
                routed_to_here[rest] = value
        elif "__" not in key and (pass_filter is None or key in pass_filter):
            plain[key] = value
    return {**plain, **routed_to_here}


def has_param(func: Callable, name: str) -> bool:
    """Whether ``func`` declares a parameter ``name`` (positional-or-keyword or keyword-only)."""
    return any(
        p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        for p in inspect.signature(func).parameters.values()
    )


def accepts_kwargs(func: Callable) -> bool:
    """Whether ``func`` takes ``**kwargs``."""
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(func).parameters.values())


def _children(params: Mapping[str, Any], key: str) -> dict[str, Any]:
    return route_params(params, key, pass_filter=(), strict=False)


def build_routed(item, params: Mapping[str, Any], inherited: Mapping[str, Any] | None = None):
    """Build ``item`` with its routed ``params``.

    A class is instantiated: keys that are digits are positional arguments (in order), the rest
    keyword arguments; each argument value is itself built with the parameters routed to it.
    A list, tuple or dict is built element-wise: ``params`` without a further prefix apply to
    every element, ``<index or key>__name`` to one element (and win). Anything else is returned
    as it is, and refuses parameters.
    """
    own = {k: v for k, v in params.items() if "__" not in k}
    if inspect.isclass(item):
        arguments = {**(inherited or {}), **own}
        arguments = {k: build_routed(v, _children(params, k)) for k, v in arguments.items()}
        positional = sorted((int(k), v) for k, v in arguments.items() if k.isdigit())
        keywords = {k: v for k, v in arguments.items() if not k.isdigit()}
        return item(*(v for _, v in positional), **keywords)
    if isinstance(item, (list, tuple)):
        return type(item)(build_routed(v, _children(params, str(i)), own) for i, v in enumerate(item))
    if isinstance(item, dict):
        return {k: build_routed(v, _children(params, str(k)), own) for k, v in item.items()}
    arguments = {**(inherited or {}), **own}
    if arguments:
        raise TypeError(
            f"{item!r} (of type {type(item).__name__}) does not accept parameters because it's not "
            f"a class, but it received {sorted(arguments)}. Pass the class (e.g. "
            "keras.losses.BinaryCrossentropy) to have skann build it with these parameters."
        )
    return item
