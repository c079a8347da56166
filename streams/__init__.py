"""Stream sources, clocks and media I/O: everything that turns the outside world into timestamped items."""
