"""The control plane: SDK objects, the store, the artifact store, deployment specs."""
