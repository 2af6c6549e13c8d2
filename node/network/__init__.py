"""The show network: nodes that find each other (zeroconf), chain by name and carry each frame's
origin down the chain."""
