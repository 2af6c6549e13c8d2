"""One place that imports TensorFlow, lazily: it is an optional, heavy dependency."""

from __future__ import annotations

import os
from typing import Any


def tensorflow() -> Any:
    """The tensorflow module, with its C++ start-up chatter (CUDA probes on CPU machines) quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # failures still raise in Python
    import tensorflow as tf

    return tf
