"""`python -m node.cli`: the `pix2pix-node` command."""

from node.cli import main

raise SystemExit(main())
