"""Mechanisms every service of the platform shares.

- ``common.app.create_service_app``: the factory that wires everything below in order.
- ``common.db.session``: a ``LocalProxy`` to the current request's SQLAlchemy session.
- ``common.transaction``: one transaction per request, committed before the response leaves.
- ``common.envelope`` / ``common.errors``: one JSON envelope and real status codes for everything.
- ``common.api``: flask-restful ``Api`` answering in the envelope; marshmallow parsing helpers.
- ``common.swagger``: OpenAPI 3 via flasgger, ``@operation`` to document a view method.
- ``common.health``, ``common.request_id``, ``common.logs``, ``common.config``, ``common.testing``.
"""
