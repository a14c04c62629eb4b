"""Components picked from a config by name (timm-style): adding one = one decorated function.

`Registry.register(name)` decorates a builder (a class or a function); `Registry.build(name, **kw)`
calls it, with an EngineError naming the bad name or keyword and listing the allowed ones.
A name ending in ":" registers a family: `build("timm:resnet18")` calls the "timm:" builder
with "resnet18" as its first argument.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from engine.errors import EngineError

T = TypeVar("T", bound=Callable[..., Any])


class Registry:
    """A name -> builder table for one kind of component (backbone, location encoder, ...)."""

    def __init__(self, kind: str, populate: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._populate = populate  # modules whose import registers the built-in entries
        self._populated = False
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register `fn` under `name` (a trailing ":" makes it a family prefix)."""

        def decorator(fn: T) -> T:
            if name in self._builders and self._builders[name] is not fn:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._builders[name] = fn
            return fn

        return decorator

    def _load(self) -> None:
        if not self._populated:
            self._populated = True
            for module in self._populate:
                importlib.import_module(module)

    def names(self) -> list[str]:
        """The registered names, sorted (families end with ':')."""
        self._load()
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        try:
            self.get(str(name))
        except EngineError:
            return False
        return True

    def get(self, name: str) -> Callable[..., Any]:
        """The builder registered under `name` (exact, or the family of 'prefix:rest')."""
        self._load()
        if name in self._builders:
            return self._builders[name]
        prefix = name.split(":", 1)[0] + ":"
        if ":" in name and prefix in self._builders:
            return self._builders[prefix]
        raise EngineError(
            f"unknown {self.kind} '{name}'",
            hint=f"use one of: {', '.join(self.names())}",
        )

    def build(self, name: str, **kwargs: Any) -> Any:
        """Build the component `name` with keyword arguments checked against its signature."""
        fn = self.get(name)
        args: tuple[Any, ...] = ()
        if name not in self._builders:  # a family member: pass the part after the prefix
            args = (name.split(":", 1)[1],)
        check_kwargs(fn, kwargs, f"{self.kind} '{name}'", skip=len(args))
        return fn(*args, **kwargs)


def check_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any], what: str, skip: int = 0) -> None:
    """Raise an EngineError naming a keyword that `fn` does not accept, with the allowed ones."""
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    allowed = [
        p.name
        for p in params[skip:]
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    for key in kwargs:
        if key not in allowed:
            raise EngineError(
                f"unknown setting '{key}' for {what}",
                hint=f"allowed settings: {', '.join(allowed) or '(none)'}",
            )


BACKBONES = Registry("backbone", populate=("engine.nn.backbones", "engine.nn.zoo_backbone"))
LOCATION_ENCODERS = Registry("location encoder", populate=("engine.nn.location",))
OBJECTIVES = Registry("objective", populate=("engine.objectives",))
