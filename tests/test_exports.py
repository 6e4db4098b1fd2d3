"""The package's exports: ``wsrpc_typed.__all__`` in step with what it exports, and one
exception tree for everything the package defines."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import pkgutil

import wsrpc_typed
from wsrpc_typed.errors import WsrpcError


def test_every_name_in_all_exists_once_and_in_order() -> None:
    names = wsrpc_typed.__all__
    assert len(names) == len(set(names))
    assert names == sorted(names)
    missing = [name for name in names if not hasattr(wsrpc_typed, name)]
    assert missing == []


def test_every_public_class_and_function_the_package_imports_is_in_all() -> None:
    exported = set(wsrpc_typed.__all__)
    public = {
        name
        for name, value in vars(wsrpc_typed).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("wsrpc_typed")
    }
    assert public - exported == set()


def test_every_exception_the_package_defines_is_in_the_one_tree() -> None:
    outside = []
    modules = [wsrpc_typed] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(wsrpc_typed.__path__, "wsrpc_typed.")
    ]
    for module in modules:
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not issubclass(value, WsrpcError)
            ):
                outside.append(f"{module.__name__}.{value.__qualname__}")
    assert len(modules) > 20  # every submodule was walked
    assert outside == []


def test_the_package_ships_its_type_information() -> None:
    assert importlib.resources.files("wsrpc_typed").joinpath("py.typed").is_file()
