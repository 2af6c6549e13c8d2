"""pix2pix-node: a headless real-time pix2pix video node for live visuals."""

__version__ = "0.1.0"
