"""Serve: a deployed model live on a board's camera, watched here, measured honestly."""
