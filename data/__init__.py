"""Built dataset files, installed as ``spikelut.data`` (see README.md here)."""
