"""Rebuild the example mixtures in examples/mixtures/ from the bundled recordings.

Usage: python examples/make_mixtures.py [OUT_DIR]

The speech recording was made once with:
    espeak-ng -v en-us -s 150 -w speech.wav "Welcome to the field recording. ..."
    sox speech.wav -r 16000 -c 1 sounds/speech.flac
"""

import sys

from eventsep.evaluation.examples import write_mixtures

if __name__ == "__main__":
    for path in write_mixtures(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f"wrote {path} and {path.with_suffix('.json').name}")
