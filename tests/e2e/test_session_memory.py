"""A command's pool lives as long as the command: it must not keep every finished pipeline (and its output)."""

from __future__ import annotations

from pathlib import Path

from .conftest import running_lab


def test_finished_pipelines_are_not_kept_by_the_pool(tmp_path: Path) -> None:
    from ipsec_remote.model.inventory import load_inventory
    from ipsec_remote.remote.connect import targets_for
    from ipsec_remote.remote.transport import HostSession

    with running_lab(tmp_path) as lab:
        target = targets_for(load_inventory(lab.inventory), lab.inventory, True)["sql01"]
        with HostSession(target) as session:
            outputs = [session.run("invoke_batch", {"Calls": []}) for _ in range(3)]
            both = session.run_statements([("invoke_batch", {"Calls": []}), ("invoke_batch", {"Calls": []})])
            pool = session._pool
            assert pool is not None
            assert pool.pipelines == {}, list(pool.pipelines)
        assert [len(o.objects) for o in outputs] == [len(outputs[0].objects)] * 3
        assert len(both.objects) == 2 * len(outputs[0].objects)
