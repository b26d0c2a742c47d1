"""kubectl commands: validation against the policy, delivery to executors, results."""
