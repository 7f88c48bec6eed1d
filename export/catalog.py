"""Where the training data lives, and the paintings the shipped styles imitate.
(No torch here, so the evaluation commands run in a runtime-only environment too.)"""
from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT = Path(os.environ.get("REALTIME_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))

PAINTINGS = {  # the public-domain paintings in shared/data/styles (see SOURCES.md): title, artist, year
    "udnie": ("Udnie (Young American Girl, The Dance)", "Francis Picabia", "1913"),
    "starry_night": ("The Starry Night", "Vincent van Gogh", "1889"),
    "the_scream": ("The Scream", "Edvard Munch", "1893"),
    "great_wave": ("The Great Wave off Kanagawa", "Katsushika Hokusai", "c.1831"),
    "composition_vii": ("Composition VII", "Wassily Kandinsky", "1913"),
    "shipwreck_of_the_minotaur": ("The Shipwreck of the Minotaur", "J. M. W. Turner", "c.1810"),
}
