"""Side-by-side load comparison of every server stack: `python compare.py --help`.

The same as `python -m lab compare`; the scenarios live in lab/scenarios/.
"""

from lab import cli
from lab.scenarios.command import main

if __name__ == "__main__":
    cli.run(main)
