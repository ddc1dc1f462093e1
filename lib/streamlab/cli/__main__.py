"""`python -m streamlab.cli ...` is `streamlab ...` (the compose files call it this way)."""

from . import main

main()
