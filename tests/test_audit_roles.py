"""Audit trail and station roles (issue #25, item 7), core side: rows with old → new, salted PIN hashes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from inspection_core.cli import main
from inspection_core.records.audit import AuditError, AuditLog, default_records_dir
from inspection_core.runtime.roles import Role, RoleError, RoleStore


def test_audit_rows_keep_who_what_old_new(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "records")
    assert log.entries() == []  # no store yet: an empty trail, nothing created
    assert not (tmp_path / "records").exists()
    e = log.record("apply thresholds", "image_threshold", 0.5, 0.62, user="ana", role="engineer",
                   recipe="tile", recipe_version=3)  # fmt: skip
    assert e.id == 1 and e.time_utc.endswith("Z") and e.change_text() == "0.5 → 0.62"
    log.record("edit ROI", "roi", None, [1, 2, 30, 40], role="engineer", user="ana")
    log.record("stop", "line", role="operator")
    rows = log.entries()
    assert [r.action for r in rows] == ["stop", "edit ROI", "apply thresholds"]  # newest first
    assert rows[2].old == 0.5 and rows[2].new == 0.62 and rows[2].recipe_version == 3
    assert rows[1].new == [1, 2, 30, 40] and rows[0].user == "operator"
    assert [r.action for r in log.entries(action="edit ROI")] == ["edit ROI"]
    assert len(log.entries(limit=1)) == 1 and log.entries(user="nobody") == []
    # a second handle (the CLI, another process) sees the same rows, in the records store
    assert len(AuditLog(tmp_path / "records").entries()) == 3
    log.close()
    with sqlite3.connect(tmp_path / "records" / "inspections.sqlite") as con:
        assert con.execute("SELECT old, new FROM audit WHERE id = 1").fetchone() == ("0.5", "0.62")
    with pytest.raises(AuditError, match="needs an action"):
        log.record("")


def test_audit_bad_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "inspections.sqlite").write_text("not a database")
    with pytest.raises(AuditError, match="audit trail"):
        AuditLog(tmp_path).record("x")
    with pytest.raises(AuditError, match="audit trail"):
        AuditLog(tmp_path).entries()


def test_audit_shares_the_records_store_and_reads_old_rows(tmp_path: Path) -> None:
    from inspection_core.records.log import InspectionLog

    log = InspectionLog(tmp_path / "inspections.sqlite")
    log.audit("reset counters", {"by": "shift end"}, user="op")  # a schema-1 style row
    log.close()
    trail = AuditLog(tmp_path)
    (old,) = trail.entries()
    assert (old.action, old.user, old.note, old.old) == ("reset counters", "op", '{"by": "shift end"}', None)
    trail.record("deploy", "recipe", None, "tile v1", role="engineer")
    assert [e.action for e in trail.entries()] == ["deploy", "reset counters"]
    assert trail.entries()[0].station  # which station made the change (one plant database)
    trail.close()


def test_pins_are_salted_hashes(tmp_path: Path) -> None:
    store = RoleStore(tmp_path / "roles.json")
    assert not store.any_pin() and not store.verify(Role.ENGINEER, "1234")
    assert store.verify(Role.OPERATOR, "")  # the operator needs no PIN
    store.set_pin(Role.ENGINEER, "2468")
    text = store.path.read_text()
    assert "2468" not in text
    rec = json.loads(text)["engineer"]
    assert len(bytes.fromhex(rec["salt"])) == 16 and rec["n"] >= 2**14
    assert store.verify(Role.ENGINEER, "2468") and not store.verify(Role.ENGINEER, "2469")
    assert not store.verify(Role.ADMINISTRATOR, "2468")  # the engineer's PIN opens no more than that
    store.set_pin(Role.ADMINISTRATOR, "admin-pass")
    assert store.verify(Role.ENGINEER, "admin-pass")  # the administrator may act as engineer
    store.set_pin(Role.ENGINEER, "2468")  # same PIN again: a new salt, a different hash
    assert json.loads(store.path.read_text())["engineer"]["hash"] != rec["hash"]
    with pytest.raises(RoleError, match="at least 4"):
        store.set_pin(Role.ENGINEER, "12")
    with pytest.raises(RoleError, match="no PIN"):
        store.set_pin(Role.OPERATOR, "1234")
    with pytest.raises(RoleError, match="unknown role"):
        Role.parse("boss")
    store.path.write_text('{"engineer": {"salt": "zz"}}')
    with pytest.raises(RoleError, match="damaged"):
        store.verify(Role.ENGINEER, "2468")


def test_cli_audit_list_and_set_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path))
    AuditLog().record("deploy", "recipe", "tile v1", "tile v2", user="ana", role="engineer",
                      recipe="tile", recipe_version=2)  # fmt: skip
    assert default_records_dir() == tmp_path / "records"
    assert main(["audit", "list"]) == 0
    out = capsys.readouterr().out
    assert "deploy" in out and "tile v1 → tile v2" in out and "ana" in out
    assert main(["audit", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["new"] == "tile v2" and row["recipe_version"] == 2

    # first PIN: the administrator's, read twice from stdin
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("adm1n\nadm1n\n"))
    assert main(["roles", "set-pin", "administrator", "--stdin"]) == 0
    assert RoleStore().verify(Role.ADMINISTRATOR, "adm1n")
    # the engineer's PIN needs the administrator's
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("wrong\n1357\n1357\n"))
    assert main(["roles", "set-pin", "engineer", "--stdin"]) == 2
    assert "administrator PIN is wrong" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("adm1n\n1357\n1357\n"))
    assert main(["roles", "set-pin", "engineer", "--stdin"]) == 0
    assert RoleStore().verify(Role.ENGINEER, "1357")
    assert [e.action for e in AuditLog().entries()][:2] == ["set PIN", "set PIN"]


def test_audit_on_postgresql(postgres_url: str) -> None:
    """The plant database: the same rows through AOI_RECORDS_URL's PostgreSQL ("user" is quoted there)."""
    log = AuditLog(url=postgres_url)
    log.record("apply thresholds", "image_threshold", 0.5, 0.6, user="ana", role="engineer",
               recipe="tile", recipe_version=2)  # fmt: skip
    (e,) = log.entries()
    assert (e.user, e.role, e.old, e.new, e.recipe, e.recipe_version) == (
        "ana",
        "engineer",
        0.5,
        0.6,
        "tile",
        2,
    )
    log.close()
