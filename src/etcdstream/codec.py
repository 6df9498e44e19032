"""etcd's wire format for the hot path: decoding watch and range responses, batching events.

One module decides which implementation is live: the compiled one from cext/
unless ETCDSTREAM_NO_EXTENSIONS is set or it was not built, else the pure-Python
twin. `IMPLEMENTATION` says which ("cython" or "python").
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

NO_EXTENSIONS = os.environ.get("ETCDSTREAM_NO_EXTENSIONS", "") not in ("", "0")

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._codec_py import *  # noqa: F403
    from ._codec_py import __all__

    IMPLEMENTATION = "python"
else:
    try:
        from ._codec import *  # noqa: F403
        from ._codec import __all__

        IMPLEMENTATION = "cython"
    except ImportError:  # a pure-Python install (built with ETCDSTREAM_NO_EXTENSIONS=1)
        from ._codec_py import *  # noqa: F403
        from ._codec_py import __all__

        IMPLEMENTATION = "python"

__all__ = [*__all__, "IMPLEMENTATION"]
