"""Cluster use: Ray job submission (``cluster.jobs``) and the manifests beside it (KubeRay
``RayCluster`` / ``RayJob``, a Ray cluster-launcher YAML, the Dockerfile they run); see
``cluster/README.md``."""
