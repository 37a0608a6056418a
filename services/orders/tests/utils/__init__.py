"""Test data builders and the stand-in for the users service."""
