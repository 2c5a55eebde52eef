"""M-FOS's torch RLModule."""
