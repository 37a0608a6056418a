"""tox's inline plugin (tox loads toxfile.py beside tox.ini): the services, found by folder.

tox.ini cannot glob, so this registers ``services`` in its [tox] section: the name of every
folder of services/, sorted. tox.ini's env_list names them as ``{[tox]services}``, which makes
each one a test env that `tox` runs and `tox -e <name>` accepts; [testenv] configures it.
"""

from pathlib import Path

from tox.config.sets import CoreConfigSet
from tox.plugin import impl


@impl
def tox_add_core_config(core_conf: CoreConfigSet) -> None:
    """Register ``services``: the folders of services/, as `platform check` counts them."""
    folder = Path(core_conf["tox_root"]) / "services"
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name[0] not in "._")
    core_conf.add_constant(keys=["services"], desc="every folder of services/", value=names)
