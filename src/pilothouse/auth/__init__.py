"""Client authentication: API keys, bearer JWTs, scopes, cluster allowlists and the request's
principal."""
