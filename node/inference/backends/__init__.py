"""Model backends by descriptor format; each imports its library only when first used."""

from __future__ import annotations

from node.inference.backends.backend import BackendModel, BackendOptions
from node.support.registry import Registry

BACKENDS: Registry[BackendModel] = Registry(
    "model format",
    {
        "onnx": "node.inference.backends.onnx:OnnxModel",
        "openvino": "node.inference.backends.openvino:OpenVinoModel",
        "tflite": "node.inference.backends.litert:LiteRTModel",
        "tf1-checkpoint": "node.inference.backends.tensorflow:TF1CheckpointModel",
        "savedmodel": "node.inference.backends.tensorflow:SavedModelModel",
        "keras": "node.inference.backends.tensorflow:KerasModel",
    },
)

BACKEND_NAMES = {
    "onnx": "ONNX Runtime",
    "openvino": "OpenVINO",
    "tflite": "LiteRT",
    "tf1-checkpoint": "TensorFlow (TF1 graph)",
    "savedmodel": "TensorFlow",
    "keras": "TensorFlow (Keras)",
}

__all__ = ["BACKENDS", "BACKEND_NAMES", "BackendModel", "BackendOptions"]
