"""One transaction per request: commit before a success leaves, roll back otherwise.

The commit runs in ``after_request``, i.e. before the response is handed to the server, so a
commit that fails (unique or deferred constraint, serialization failure, lost connection)
replaces the success with an error envelope: a client never sees 2xx for data that was not
saved. flask-sqlalchemy removes (closes) the session in ``teardown_appcontext``, which runs
whatever happened before it.
"""

from flask import Flask, Response

from common.db import get_db
from common.errors import error_response


def finish_transaction(response: Response) -> Response:
    """Commit on success, roll back on an error status; turn a failed commit into an error."""
    scoped = get_db().session
    if not scoped.registry.has():
        return response  # the request never touched the database
    session = scoped()
    if response.status_code >= 400:
        session.rollback()
        return response
    try:
        session.commit()
    except Exception as exc:  # any commit failure must become the response, not a 2xx
        session.rollback()
        return error_response(exc)
    return response


def init_app(app: Flask) -> None:
    """Register the commit/rollback step; call it last so it runs first among after_request."""
    # Flask runs after_request functions in reverse order of registration: registering this one
    # after the request-id and logging hooks makes the commit happen before they see the status.
    app.after_request(finish_transaction)
