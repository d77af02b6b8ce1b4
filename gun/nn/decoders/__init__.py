"""Decoder parts: the fusion module (merges the branches) and the guidance module (offsets)."""
