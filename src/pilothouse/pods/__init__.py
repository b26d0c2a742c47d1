"""Pod operations of the Cluster API: logs (one-shot and followed), exec, and the interactive shell."""
