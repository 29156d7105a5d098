"""Optional dependencies: a feature that needs an extra says which one to install."""

import importlib

from annolog.core.errors import MissingExtra


def require(feature: str, extra: str, *modules: str) -> None:
    """Import ``modules`` or raise ``MissingExtra`` naming ``extra``, the one to install.

    >>> require("to_pytorch()", "train", "torch")  # doctest: +SKIP
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise MissingExtra(
                f"{feature} needs the {extra!r} extra, which is not installed (no module {exc.name!r}): "
                f"pip install 'annolog[{extra}]'"
            ) from exc
