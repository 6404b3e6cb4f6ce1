"""Compute, then draw: frames (pure pandas), figures (return a Figure), report writers."""
