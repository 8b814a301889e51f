"""The train stage: a Keras fit that reports epochs as events, checkpoints and resumes."""
