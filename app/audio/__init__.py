"""Audio engine: voice, bell, mixing, encoding, captions and onset detection."""
