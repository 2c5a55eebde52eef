"""Ray job submission and cluster manifests (see issue: cluster use)."""
