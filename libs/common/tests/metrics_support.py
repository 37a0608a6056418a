"""Helpers the metrics tests share: scrape, parse, read one sample."""

from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[str, Any]:
    """Exposition text -> {family name: family}; fails on anything Prometheus could not parse."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    """The value of the sample with that name and these labels (among others); 0 if absent."""
    total = 0.0
    for family in families.values():
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


def sample_labels(families: dict[str, Any], sample_name: str) -> list[dict[str, str]]:
    """The label sets of every sample with that name."""
    return [
        sample.labels
        for family in families.values()
        for sample in family.samples
        if sample.name == sample_name
    ]
