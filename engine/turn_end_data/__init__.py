"""The semantic end of turn's training sentences (finished, and cut where no one stops) and trained weights."""
