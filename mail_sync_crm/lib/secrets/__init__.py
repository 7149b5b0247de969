"""The deployment's secret key and the encryption of stored passwords and tokens."""
