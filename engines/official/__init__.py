"""Exporters for the papers' own (official) checkpoints: see engines/README.md."""
