"""Image processing: the original app's OpenCV chain and the model-side steps."""
