"""`python -m node` runs the same CLI as the `pix2pix-node` console script."""

from node.cli import main

raise SystemExit(main())
