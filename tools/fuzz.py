"""The fuzz runner's command line (the code is fuzz/runner.py; see its docstring), e.g.

    python tools/fuzz.py --minutes 5 --target osc_packet
    make fuzz ARGS="--minutes 5"

(mypy skips this file: as a top-level script it would be a second module named `fuzz`.)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fuzz.runner import main

if __name__ == "__main__":
    sys.exit(main())
