"""One plug-in mechanism for every kind: update rules, learners, experiment families, dataset
preparers, figures.

A plug-in registers itself with a decorator (``@RULES.register("sparse-maml")``). The first
lookup imports every module of the registry's package (``pkgutil``) and every module named in
``$WHERETOLEARN_PLUGINS`` (comma-separated, importable names: a researcher's own rules outside
the package), so there is no hand-kept list of modules: a new rule is a new file.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from wheretolearn.errors import ConfigError
from wheretolearn.validate import from_dict

T = TypeVar("T")
PLUGINS_ENV = "WHERETOLEARN_PLUGINS"


def plugin_modules() -> list[str]:
    """The modules named in ``$WHERETOLEARN_PLUGINS``."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


class Registry(Generic[T]):
    """Named plug-ins of one ``kind``, discovered in ``package`` on first use.

    ``key`` names the params key that selects one (``method.name``), for error messages;
    ``module``, for plug-ins that are packages, the module of each that registers it.
    """

    def __init__(self, kind: str, package: str, key: str, module: str | None = None) -> None:
        self.kind, self.package, self.key, self.module = kind, package, key, module
        self._entries: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (twice is an error)."""

        def add(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = obj
            return obj

        return add

    def discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True  # first: a plug-in module may look the registry up on import
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__, f"{self.package}."):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            if self.module and info.ispkg:  # a plug-in package registers in one module of it
                importlib.import_module(f"{info.name}.{self.module}")
            else:
                importlib.import_module(info.name)
        for module in plugin_modules():
            importlib.import_module(module)

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The plug-in ``name``, or a ConfigError naming the key and the known names."""
        self.discover()
        if name not in self._entries:
            known = ", ".join(self.names())
            raise ConfigError(f"{self.key}: unknown {self.kind} {name!r}; known: {known}")
        return self._entries[name]

    def select(self, spec: Any) -> tuple[T, dict[str, Any]]:
        """The plug-in a params section names (``spec["name"]``) and the rest of the section;
        a missing name is refused naming the key and the known names."""
        if not isinstance(spec, dict) or "name" not in spec:
            known = ", ".join(self.names())
            raise ConfigError(f"missing key {self.key}; known {self.kind}s: {known}")
        return self.get(spec["name"]), {k: v for k, v in spec.items() if k != "name"}

    def options(self, spec: dict[str, Any]) -> Any:
        """A section's options, validated against the named plug-in's ``Options``."""
        cls, rest = self.select(spec)
        return from_dict(cls.Options, rest, self.key.rsplit(".", 1)[0])

    def decorator(self, name: str, attribute: str) -> Callable[[T], T]:
        """A class decorator registering ``name`` and setting ``cls.<attribute> = name``."""

        def wrap(cls: T) -> T:
            setattr(cls, attribute, name)
            return self.register(name)(cls)

        return wrap

    def __contains__(self, name: str) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
