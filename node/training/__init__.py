"""Tools to make models for the node: paired datasets, pix2pix training, export."""
