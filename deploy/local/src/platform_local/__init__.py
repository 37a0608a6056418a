"""The platform on a laptop: every service, the gateway and the docs, without Docker."""
