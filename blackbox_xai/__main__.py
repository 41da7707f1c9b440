"""``python -m blackbox_xai ...`` runs the command-line interface."""
import sys

from blackbox_xai.cli import main

sys.exit(main())
