"""What the operator asked for: inventory, playbook, desired objects, cmdlet calls, and the reference
that validates every call."""
