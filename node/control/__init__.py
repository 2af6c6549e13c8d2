"""Control surfaces: the command layer, OSC (UDP/TCP) with feedback, OSCQuery discovery."""
