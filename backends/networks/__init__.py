"""Keras networks. TensorFlow is imported inside the builders, never at module import."""
