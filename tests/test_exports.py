"""The public API: ``rawrepo.__all__`` is exactly what ``rawrepo/__init__.py`` defines
(like httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import importlib
import inspect

import rawrepo
import rawrepo.errors


def test_all_lists_exactly_the_public_names_of_the_package() -> None:
    defined = {
        name
        for name, value in vars(rawrepo).items()
        if (not name.startswith("_") or name == "__version__") and not inspect.ismodule(value)
    }
    assert len(rawrepo.__all__) == len(set(rawrepo.__all__)), "duplicates in __all__"
    assert set(rawrepo.__all__) == defined


def test_every_name_in_all_is_importable_from_the_package() -> None:
    for name in rawrepo.__all__:
        assert getattr(rawrepo, name) is not None, name


def test_every_error_in_errors_all_is_importable() -> None:
    module = importlib.import_module("rawrepo.errors")
    for name in rawrepo.errors.__all__:
        assert inspect.isclass(getattr(module, name)), name
        assert issubclass(getattr(module, name), rawrepo.errors.RawRepoError), name


def test_errors_all_lists_every_exception_class_the_module_defines() -> None:
    defined = {
        name
        for name, value in vars(rawrepo.errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == "rawrepo.errors"
    }
    assert set(rawrepo.errors.__all__) == defined


def test_package_level_errors_are_the_same_classes_as_in_errors() -> None:
    for name in rawrepo.__all__:
        value = getattr(rawrepo, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert value is getattr(rawrepo.errors, name)
