"""What the hosts are made of: collection, comparison, reports and drift from the desired state."""
