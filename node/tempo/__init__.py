"""Tempo: the beat clock (internal, tap, MIDI clock, Ableton Link), changes quantised to the
beat, and the modulators (LFOs, envelopes) that move parameters on their own."""
