"""One place that imports TensorFlow, lazily: it is an optional, heavy dependency."""

from __future__ import annotations

import os
from typing import Any

from node.inference.descriptor import ModelError


def tensorflow() -> Any:
    """The tensorflow module, with its C++ start-up chatter (CUDA probes on CPU machines) quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # failures still raise in Python
    try:
        import tensorflow as tf
    except ImportError:
        raise ModelError(
            "TensorFlow is not installed: pip install -e '.[tf]' (make test installs it)"
        ) from None
    return tf
