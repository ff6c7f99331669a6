"""The data plane: Ray Serve deployments built from a ``DeploymentSpec``."""
