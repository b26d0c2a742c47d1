"""Insights: periodic full-cluster scans turned into stable, dismissable findings (section 11),
and the analytics summary computed from the stored records (section 13)."""
