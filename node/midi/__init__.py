"""MIDI: the node's ports (in with hot-plug, out for the controller's lights and motor faders),
MIDI learn and the mapping engine, and the mapping profiles on disk."""
