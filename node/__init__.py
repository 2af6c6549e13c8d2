"""pix2pix-node: a headless real-time pix2pix video node for live visuals."""

import os

__version__ = "0.1.0"

# OpenCV reads this once, when it is imported: set before any of the node's modules import cv2.
# Its default (2**30 pixels) lets a 94 KB PNG of 9000x9000 decode to 243 MB; a picture for a
# live node has no use for more than 8192x8192. A value the user set wins.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(8192 * 8192))
# ONNX Runtime keeps a device id and a telemetry store in ~/.cache/Microsoft/DeveloperTools
# unless told not to; the node writes only its own folders and phones no one.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
