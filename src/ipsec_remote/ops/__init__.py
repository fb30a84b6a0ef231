"""The operations over a fleet: apply, proof, status and doctor, promote, rollback."""
