"""AI investigations: asynchronous diagnoses of one resource, with progress, findings and
proposed actions (kubilitics-api.md section 10)."""
