"""Example configs and demo scripts, installed as ``spikelut.demos`` (the default ``spikelut run`` config lives here)."""
