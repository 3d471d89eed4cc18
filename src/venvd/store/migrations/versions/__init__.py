"""Migration scripts, one per schema revision; never edit one that has been released."""
