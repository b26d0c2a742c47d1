"""Debug sessions: a client's bounded, sliding-TTL context for commands on one cluster."""
