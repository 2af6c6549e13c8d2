"""Models: the protocol the pipeline calls, descriptors and backends."""

from node.inference.model import DEFAULT_INPUT, Model, TensorSpec

__all__ = ["DEFAULT_INPUT", "Model", "TensorSpec"]
