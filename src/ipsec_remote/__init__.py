"""ipsec-remote: roll Windows Server IPsec out across a fleet over WinRM, without locking a server out."""

__version__ = "0.1.0"
