"""The non-awakening gate's labelled dataset and trained weights."""
