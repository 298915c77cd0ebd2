"""The package version, under the names django-health-check's generated ``_version`` module has.

Written by hand (no version-control plugin): ``version``/``version_tuple`` and the dunder spellings
are what code written against django-health-check may import; ``commit_id`` is ``None`` since a
release is not tied to a checkout.
"""

from __future__ import annotations

__all__ = ["__commit_id__", "__version__", "__version_tuple__", "commit_id", "version", "version_tuple"]

__version__ = version = "0.1.0"
__version_tuple__ = version_tuple = (0, 1, 0)
__commit_id__ = commit_id = None
