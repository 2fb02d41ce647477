"""The package's public surface is complete and importable without the optional backends."""

from __future__ import annotations

import hansa.dataplane


def test_all_names_exist_and_are_sorted() -> None:
    names = hansa.dataplane.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert getattr(hansa.dataplane, name) is not None


def test_every_public_class_of_the_interface_is_exported() -> None:
    import hansa.dataplane.backends as backends

    public = {
        name
        for name, value in vars(backends).items()
        if not name.startswith("_")
        and isinstance(value, type)
        and value.__module__ == backends.__name__
    }
    assert public <= set(hansa.dataplane.__all__)
