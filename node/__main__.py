"""`python -m node` runs the same CLI as the `pix2pix-node` console script."""

from node.cli import main

if __name__ == "__main__":  # not when a child process re-imports the main module
    raise SystemExit(main())
