"""kombu's filesystem transport (no BROKER_URL): events cross process boundaries.

The no-Docker platform runs each service (and its relay and consumer) as processes of its own
sharing one folder: a message published by one process must reach a queue another process
declared, through the bindings of the topic exchange kept in the control folder.
"""

import dataclasses
import json
import os
import subprocess
import sys
import uuid

import tinyapp
from common.events import Consumer, settings
from common.events.broker import connect
from events_support import consume_until
from tinyapp.events import WIDGET_NAMED, make_handlers

_PUBLISHER = """
import json, sys
from common.events import EventSettings
from common.events.broker import Publisher, connect, encode

config = EventSettings(**json.loads(sys.argv[1]))
envelope = json.loads(sys.argv[2])
with connect(config) as connection:
    Publisher(connection.channel()).publish(
        encode(envelope), exchange=config.exchange, routing_key=envelope["type"],
        message_id=envelope["id"],
    )
"""


def test_an_event_published_by_another_process_reaches_this_consumer(
    app, event_settings, count_rows
):
    config = event_settings("filesystem")
    calls = []
    consumer = Consumer(app, make_handlers(calls), config=config)
    consumer.open()  # declares the queue and its binding in the shared folder
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/services/other",
        "type": WIDGET_NAMED.name,
        "data": {"name": "from-afar"},
    }
    subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [
            sys.executable,
            "-c",
            _PUBLISHER,
            json.dumps(dataclasses.asdict(config)),
            json.dumps(envelope),
        ],
        check=True,
        timeout=30,
    )
    consume_until(consumer, lambda: len(calls) == 1)
    consumer.close()
    assert calls[0].id == envelope["id"] and calls[0].source == "/services/other"
    assert count_rows("widgets", name="from-afar") == 1


def test_without_broker_url_the_filesystem_transport_lives_in_the_instance_folder(app_config):
    app = tinyapp.create_app({**app_config, "BROKER_URL": None, "EVENTS_FOLDER": None})
    config = settings(app)
    assert config.broker_url is None
    assert config.folder == os.path.join(app.instance_path, "events")
    assert connect(config).transport_cls == "filesystem"
