"""AI-proposed remediation actions: pending until a human approves (or the autonomy level allows),
applied with a server-side dry run first, then verified (section 12); and the safety policy."""
