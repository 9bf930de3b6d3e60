"""Where config may point the project's storage: a local folder or an fsspec URL.

A leaf of the package: ``config.py`` validates ``storage.shared`` with it and
``core/storage.py`` reads and writes through the paths it makes, so neither of the two
has to import the other's side.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from upath import UPath

StoragePath: TypeAlias = "Path | UPath"

# fsspec option names that carry credentials: they belong in the environment or the
# provider's own config, because pipeline.yaml is recorded in every run's config.
SECRET_OPTIONS = frozenset(
    {"key", "secret", "token", "password", "access_key", "secret_key", "session_token"}
)


def is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def check_protocol(url: str) -> None:
    """Raise ValueError naming the problem if fsspec cannot open ``url``'s scheme here."""
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise ValueError(f"{url}: unknown storage protocol {protocol!r}") from None
    except ImportError as error:
        raise ValueError(f"{url}: {error} (pip install -e '.[s3]' for s3://)") from None


def location(where: str | Path, options: Mapping[str, Any] | None = None) -> StoragePath:
    """A local path for a folder, a ``UPath`` with ``options`` for a URL."""
    text = str(where)
    if not is_url(text):
        return Path(text.removeprefix("file://"))
    from upath import UPath

    return UPath(text, **dict(options or {}))
