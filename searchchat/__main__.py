"""`python -m searchchat` runs the CLI."""

from searchchat.cli import main

main()
