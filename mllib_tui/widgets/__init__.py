"""Reusable widgets: dashboard panes and the confusion-matrix heatmap."""
