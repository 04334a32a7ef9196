"""The lab's hosts from the control machine: the inventory, strict SSH, host control, keys."""
