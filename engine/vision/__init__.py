"""Recognition models that ship inside registry packages: object detection, image labels and people, on the CPU."""
