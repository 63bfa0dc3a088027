"""LEGO image recognition pipeline: typed params, data providers, and the domain logic the DVC stages call."""
