"""The live state: the parameter table and its store, presets, morphs, the last state."""
