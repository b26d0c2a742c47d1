"""Client authentication: API keys, scopes, cluster allowlists and the request's principal."""
