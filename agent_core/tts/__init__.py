"""Text-to-speech: the seam (`base.TextToSpeech`), its backends, and speaking styles (`styles`)."""
