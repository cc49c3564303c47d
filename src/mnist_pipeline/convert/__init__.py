"""The convert stage's work: ``mnist.pkl.gz`` (or the four idx files) read safely into
validated splits."""
