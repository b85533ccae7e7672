"""Roles and audit trail in the operator's window (issue #25, item 7), and the feedback loop (item 4).

Modal dialogs (PIN, Stop, ⚠) are answered by a timer, as a person would click them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gui_fakes import FakeWeb
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox, QWidget

from app.main_window import MainWindow
from inspection_core.calibration.thresholds import ThresholdSuggestion
from inspection_core.data.imageio import imwrite
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.records.audit import AuditLog
from inspection_core.runtime.roles import Role, RoleStore

pytestmark = pytest.mark.gui
WAIT_MS = 60_000


def answer(fn: Callable[[QWidget], None]) -> list[str]:
    """Answer the next modal dialog with `fn` (exec() blocks the test, so a timer does it); returns
    the dialog's object name once answered."""
    seen: list[str] = []

    def go() -> None:
        w = QApplication.activeModalWidget()
        if w is None:
            QTimer.singleShot(10, go)
            return
        seen.append(w.objectName())
        fn(w)

    QTimer.singleShot(0, go)
    return seen


def click(text: str) -> Callable[[QWidget], None]:
    def fn(box: QWidget) -> None:
        assert isinstance(box, QMessageBox)
        (b,) = [b for b in box.buttons() if b.text().replace("&", "") == text]
        b.click()

    return fn


def login(pin: str | None, name: str = "ana", role: Role = Role.ENGINEER) -> Callable[[QWidget], None]:
    def fn(dlg: QWidget) -> None:
        if pin is None:
            dlg.reject()
            return
        dlg.role.setCurrentIndex(dlg.role.findData(role))
        dlg.user.setText(name)
        dlg.pin.setText(pin)
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    return fn


@pytest.fixture
def window(
    qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb, tmp_path: Path, monkeypatch
) -> Iterator[MainWindow]:  # noqa: ANN001
    monkeypatch.setenv("AOI_RECIPES_DIR", str(tmp_path / "recipes"))

    def opener() -> FakeWeb:
        fake_web.open()
        return fake_web

    w = MainWindow(opener_for=lambda spec: opener, device="cpu")
    w.set_bundle(tiny_bundle, PostprocessSettings(image_threshold=2.0))
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def test_operator_cannot_apply_engineer_with_pin_can(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    w, ws, access = window, window.workspaces, window.access
    RoleStore().set_pin(Role.ENGINEER, "2468")
    bar = w.station_access.role_bar
    bar.refresh()
    assert access.enforced and bar.label.text() == "Role: operator" and bar.login_button.isEnabled()
    w.start("fake")
    qtbot.waitUntil(lambda: w.state.current is not None, timeout=WAIT_MS)
    assert ws.freeze()
    ws.tune.frame.controls.image.setValue(3.5)

    seen = answer(login(None))  # the operator cancels the PIN dialog
    assert not ws.tune.apply() and seen == ["login"]
    assert w.settings.image_threshold == 2.0 and "not allowed" in w.state.notifications[-1][1]
    answer(login("0000"))  # a wrong PIN
    assert not ws.tune.apply() and w.settings.image_threshold == 2.0 and access.role is Role.OPERATOR
    answer(login("2468"))
    assert ws.tune.apply()
    assert w.settings.image_threshold == 3.5 and access.role is Role.ENGINEER
    assert bar.label.text() == "Role: engineer (ana)" and bar.login_button.text() == "Log out"

    rows = AuditLog().entries()
    applied = [r for r in rows if r.action == "apply thresholds"]
    assert [(r.target, r.old, r.new, r.user, r.role) for r in applied] == [
        ("image_threshold", 2.0, 3.5, "ana", "engineer")
    ]
    assert [r.action for r in rows if r.action in ("login failed", "log in")] == ["log in", "login failed"]
    # the audit panel shows it: who, what, old → new
    table = w.station_access.audit_panel.row_texts()
    assert any(r[1:6] == ("ana", "engineer", "apply thresholds", "image_threshold", "2 → 3.5") for r in table)
    w.station_access.audit_panel.filter.setText("login failed")
    assert len(w.station_access.audit_panel.row_texts()) == 1

    # logged out, the ROI cannot be edited without the PIN again
    bar.login_button.click()
    assert access.role is Role.OPERATOR
    answer(login(None))
    w.toggle_roi()
    assert not w.live_view.editing_roi
    answer(login("2468"))
    w.toggle_roi()
    assert w.live_view.editing_roi
    w.toggle_roi()
    roi_rows = AuditLog().entries(action="edit the ROI")
    assert roi_rows and roi_rows[0].target == "roi" and roi_rows[0].user == "ana"


def test_stop_asks_first_and_is_audited(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    w = window
    qtbot.keyClick(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.state.counters.inspected >= 1, timeout=WAIT_MS)
    seen = answer(click("Cancel"))
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert seen == ["confirm"] and w.state.running  # cancelled: the line keeps being inspected
    answer(click("Stop"))
    w.source_panel.start_button.click()
    assert not w.state.running
    (row,) = AuditLog().entries(action="stop")
    assert (row.old, row.new, row.role) == ("running", "stopped", "operator")


def test_warning_suggestion_needs_confirmation(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    panel = window.workspaces.tune.validation
    before = panel.session.settings.image_threshold
    panel.suggestions["max-false-reject"] = ThresholdSuggestion(
        0.123, "max-false-reject", warnings=("rejects 65 % of the good parts",)
    )
    panel.sug_buttons["max-false-reject"].setEnabled(True)
    seen = answer(click("Cancel"))
    panel.sug_buttons["max-false-reject"].click()
    assert seen == ["confirm"] and panel.session.settings.image_threshold == before
    answer(click("Use it"))
    panel.sug_buttons["max-false-reject"].click()
    assert panel.session.settings.image_threshold == pytest.approx(0.123)
    # one without ⚠ is still one click
    panel.suggestions["f1"] = ThresholdSuggestion(0.456, "f1")
    panel.sug_buttons["f1"].setEnabled(True)
    panel.sug_buttons["f1"].click()
    assert panel.session.settings.image_threshold == pytest.approx(0.456)


def test_false_reject_goes_to_good_set_and_refits(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    w, ws = window, window.workspaces
    src = FakeWeb(size=128, fps=0, seed=1)
    src.open()
    src.start()
    folder = tmp_path / "production"  # good/ and spot/ (defective) parts seen on the line
    for i in range(4):
        imwrite(folder / "good" / f"part{i}.png", src.read().image)
    src.defects = True
    for i in range(2):
        imwrite(folder / "spot" / f"part{i}.png", src.read().image)
    src.close()
    train = ws.train
    for k, v in (("image_size", (64, 64)), ("coreset_size", 200), ("max_patches", 5000)):
        train.form.set_option(k, v)
    assert train.set_product("web")
    panel = ws.tune.validation
    panel.session.update(image_threshold=0.0)  # every good part is rejected: four false rejects
    panel.data_edit.setText(str(folder))
    with qtbot.waitSignal(panel.finished, timeout=WAIT_MS):
        assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    gallery = panel.gallery
    assert gallery.n_items("fr") == 4 and not gallery.to_good_button.isEnabled()
    for i in range(3):
        gallery.lists["fr"].item(i).setSelected(True)
    assert gallery.to_good_button.isEnabled()
    with qtbot.waitSignal(train.trained, timeout=120_000):
        gallery.to_good_button.click()
    qtbot.waitUntil(lambda: not train.task.is_running(), timeout=10_000)
    good = train.capture.samples.list("good")
    assert len(good) == 3 and train.result is not None and train.result.calibration.n_fit >= 1
    (row,) = AuditLog().entries(action="add to good set")
    assert sorted(row.new) == sorted(gallery.lists["fr"].item(i).data(Qt.ItemDataRole.UserRole).path.name
                                     for i in range(3))  # fmt: skip
    assert w.inspector.bundle is not train.result.bundle  # refitted, not deployed: Deploy decides
    recipe = train.deploy()
    assert recipe is not None and w.inspector.bundle is train.result.bundle
    rows = {r.target: r for r in AuditLog().entries(action="deploy a recipe")}
    assert rows["recipe"].new == f"web v{recipe.version}" and rows["recipe"].old is None
    assert rows["recipe"].recipe == "web" and rows["recipe"].recipe_version == recipe.version
    assert rows["model"].new == train.result.bundle.name
    assert (rows["image_threshold"].old, rows["image_threshold"].new) == (2.0, 0.5)  # calibrated: 0.5


def test_camera_settings_need_the_engineer_and_are_audited(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    from app import sources

    w, ctl = window, window.camera.controller
    RoleStore().set_pin(Role.ENGINEER, "2468")
    w.stop()
    w.start("simulated:96x64", opener=lambda: sources.open_source("simulated:96x64", fps=30))
    qtbot.waitUntil(lambda: ctl.tree is not None, timeout=WAIT_MS)
    old = ctl.standard["exposure_us"].value
    answer(login(None))
    ctl.write("exposure_us", 2500.0)
    qtbot.waitUntil(lambda: ctl.pending == 0, timeout=WAIT_MS)
    assert ctl.tree.find("exposure_us").value == old and not AuditLog().entries(
        action="change camera setting"
    )
    answer(login("2468", name="bo"))
    ctl.write("exposure_us", 2500.0)
    qtbot.waitUntil(
        lambda: ctl.pending == 0 and ctl.tree.find("exposure_us").value == 2500.0, timeout=WAIT_MS
    )
    (row,) = AuditLog().entries(action="change camera setting")
    assert (row.target, row.old, row.new, row.user) == ("exposure_us", old, 2500.0, "bo")
    w.access.confirm_stop = False
    w.source_panel.start_button.click()
    assert not w.state.running


def test_model_switch_and_recipe_switch_need_the_engineer(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    from inspection_core.recipe import Recipe

    w = window
    RoleStore().set_pin(Role.ENGINEER, "2468")
    live = w.inspector
    seen = answer(login(None))
    w.source_panel.modelRequested.emit("demo")  # the model picker
    assert seen == ["login"] and w.inspector is live
    answer(login(None))
    assert not w.workspaces.train.switch_to(Recipe(name="part", model_dir="m"))  # the recipe bar
    assert w.inspector is live and w.recipe is None
    assert not AuditLog().entries(action="load model", limit=None)[1:]  # only the fixture's first model


def test_wrong_pins_pause_logins(qtbot) -> None:  # noqa: ANN001
    from app.access import MAX_FAILURES, AccessControl

    RoleStore().set_pin(Role.ENGINEER, "2468")
    access = AccessControl(dialogs=False)
    assert not access.allow("apply thresholds")  # no dialog to ask in: refused, said
    for _ in range(MAX_FAILURES):
        assert not access.login(Role.ENGINEER, "0000")
    with qtbot.waitSignal(access.notified) as sig:
        assert not access.login(Role.ENGINEER, "2468")  # right PIN, but logins are paused
    assert "too many wrong PINs" in sig.args[1] and access.role is Role.OPERATOR
    assert len(AuditLog().entries(action="login failed")) == MAX_FAILURES
    access._locked_until = 0.0  # the pause is over
    assert access.login(Role.ENGINEER, "2468", "ana") and access.allow("apply thresholds")
    access.logout()
    assert access.role is Role.OPERATOR
    assert [e.action for e in AuditLog().entries(limit=2)] == ["log out", "log in"]


def test_first_run_says_how_and_the_administrator_sets_the_engineer_pin(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    w, access = window, window.access
    bar = w.station_access.role_bar
    assert (
        not access.enforced and "roles off" in bar.label.text() and "aoi roles set-pin" in bar.label.toolTip()
    )
    assert not bar.login_button.isEnabled() and access.allow("apply thresholds")  # a new station stays usable
    RoleStore().set_pin(Role.ADMINISTRATOR, "adm1n")
    bar.refresh()
    assert bar.label.text() == "Role: operator" and bar.pin_button.isHidden()
    answer(login("adm1n", name="kim", role=Role.ADMINISTRATOR))
    bar.login_button.click()
    assert access.role is Role.ADMINISTRATOR and not bar.pin_button.isHidden()

    def set_pin(dlg: QWidget) -> None:
        dlg.role.setCurrentIndex(dlg.role.findData(Role.ENGINEER))
        dlg.pin.setText("1357")
        dlg.again.setText("1357")
        dlg.accept()

    seen = answer(set_pin)
    bar.pin_button.click()
    assert seen == ["set_pin"] and RoleStore().verify(Role.ENGINEER, "1357")
    (row,) = AuditLog().entries(action="set PIN")
    assert (row.target, row.user, row.role) == ("engineer", "kim", "administrator")
    assert "1357" not in (row.note or "") and "1357" not in str(row.new)


def test_start_is_the_operators_and_is_audited(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    w = window
    RoleStore().set_pin(Role.ENGINEER, "2468")
    w.source_panel.start_button.click()  # no PIN asked: an answered dialog would hang this test
    assert w.state.running and w.access.role is Role.OPERATOR
    (row,) = AuditLog().entries(action="start")
    assert (row.target, row.old, row.role) == ("inspection", "stopped", "operator") and row.new
    w.access.confirm_stop = False
    w.source_panel.start_button.click()  # running: this is Stop, not a second start row
    assert not w.state.running and len(AuditLog().entries(action="start")) == 1


def test_refused_model_switch_puts_the_picker_back_on_what_is_live(
    qtbot, window: MainWindow, tiny_bundle: ModelBundle, tmp_path: Path
) -> None:  # noqa: ANN001
    from inspection_core.recipe import Recipe
    from inspection_core.recipes.store import RecipeStore

    w, combo = window, window.source_panel.model_combo
    v1 = RecipeStore(tmp_path / "recipes").save(Recipe("part", str(tiny_bundle.save(tmp_path / "m"))))
    assert w.workspaces.train.switch_to(v1)  # roles off: deployed at once
    assert combo.currentText() == "Recipe part v1"
    RoleStore().set_pin(Role.ENGINEER, "2468")
    live = w.inspector
    for answer_with in (login(None), login("0000")):  # cancelled, then a wrong PIN
        demo = combo.findData("demo")
        combo.setCurrentIndex(demo)  # what a click on "Demo model" does
        seen = answer(answer_with)
        combo.activated.emit(demo)
        assert seen == ["login"] and w.inspector is live and w.recipe == v1
        assert combo.currentText() == "Recipe part v1"


def test_camera_save_and_recording_settings_need_the_engineer(
    qtbot, window: MainWindow, tiny_bundle: ModelBundle, tmp_path: Path
) -> None:  # noqa: ANN001
    from app import sources
    from inspection_core.recipe import Recipe
    from inspection_core.recipes.store import RecipeStore

    w, ctl = window, window.camera.controller
    store = RecipeStore(tmp_path / "recipes")
    w.recipe = store.save(Recipe("part", str(tiny_bundle.save(tmp_path / "m"))))
    RoleStore().set_pin(Role.ENGINEER, "2468")
    w.stop()
    w.start("simulated:96x64", opener=lambda: sources.open_source("simulated:96x64", fps=30))
    qtbot.waitUntil(lambda: ctl.tree is not None, timeout=WAIT_MS)
    seen = answer(login(None))
    w.camera.panel.save_button.click()
    qtbot.wait(200)
    assert seen == ["login"] and store.versions("part") == [1] and w.recipe.version == 1
    answer(login("2468", name="bo"))
    w.camera.panel.save_button.click()
    qtbot.waitUntil(lambda: store.versions("part") == [1, 2], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.recipe.version == 2, timeout=WAIT_MS)
    (row,) = AuditLog().entries(action="save camera settings")
    assert (row.target, row.user, row.role) == ("part v2", "bo", "engineer") and row.new
    w.access.logout()
    seen = answer(login(None))
    w.records_ui.edit_settings()  # refused: no settings dialog follows (it would block this test)
    assert seen == ["login"]
    assert any("change the recording settings" in m for _lvl, m in w.state.notifications)
    w.access.confirm_stop = False
    w.source_panel.start_button.click()
    assert not w.state.running
