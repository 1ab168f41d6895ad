"""``python -m vrft_rewards`` runs the ``vrft-rewards`` command."""

import sys

from vrft_rewards.cli import main

sys.exit(main())
