"""Tests of the docs service."""
