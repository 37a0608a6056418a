"""Test data builders."""
