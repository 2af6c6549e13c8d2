"""Image processing on the frame path: the 2017 chain before the model, the mapping after."""
