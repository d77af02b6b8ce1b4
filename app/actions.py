"""Every command of the window, declared once: text, shortcuts, tooltip, menu and toolbar.

The window builds its menus, toolbars, shortcuts and the help's key list from `ACTIONS`, so a
command cannot be reachable in one place and missing from another. A spec either runs a command
(a name the presenter maps to a method) or is a check box bound to a boolean AppState field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.state import AppState


@dataclass(frozen=True)
class ActionSpec:
    name: str  # the command's name (or, with `field`, the state field it toggles)
    text: str  # menu and toolbar text
    keys: tuple[str, ...] = ()
    help: str = ""  # the help's and the tooltip's description
    menu: str = "View"  # menu-bar menu
    toolbar: str | None = None  # toolbar group, None = menu only
    field: str | None = None  # a check box bound to this boolean AppState field
    checked_when: str | None = None  # checked while state.layout equals this (layout buttons)


MENUS: tuple[str, ...] = ("File", "Playback", "View", "Help")
TOOLBARS: tuple[str, ...] = ("Source", "Playback", "View", "Model", "Tools")  # "Model" holds the device and precision boxes

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_file", "Open video or image…", ("Ctrl+O",), "open a video or image", "File"),
    ActionSpec("open_folder", "Open folder…", ("Ctrl+Shift+O",), "open a folder of images (CamVid or Cityscapes layouts "
               "bring ground truth)", "File"),
    ActionSpec("open_weights", "Load weights…", ("Ctrl+L",), "load weights (.safetensors)", "File"),
    ActionSpec("choose_camera", "Camera…", ("C",), "choose a camera", "File"),
    ActionSpec("export", "Export", ("E",), "export an annotated video (with a time estimate)", "File", "Tools"),
    ActionSpec("screenshot", "Screenshot", ("S",), "save the view as PNG (in your Pictures folder)", "File", "Tools"),
    ActionSpec("quit", "Quit", ("Ctrl+Q",), "quit", "File"),
    ActionSpec("toggle_play", "Pause", ("Space",), "play / pause", "Playback", "Playback"),
    ActionSpec("step_back", "◀", ("Left",), "previous frame", "Playback", "Playback"),
    ActionSpec("step_forward", "▶", ("Right",), "next frame (pauses)", "Playback", "Playback"),
    ActionSpec("back_10", "10 frames back", ("Shift+Left",), "10 frames back", "Playback"),
    ActionSpec("forward_10", "10 frames forward", ("Shift+Right",), "10 frames forward", "Playback"),
    ActionSpec("first_frame", "First frame", ("Home",), "first frame", "Playback"),
    ActionSpec("loop", "Loop", ("L",), "loop videos on / off", "Playback", field="loop"),
    ActionSpec("full_speed", "Full speed", ("R",), "play videos as fast as the model allows instead of at their "
               "frame rate (to see what the pipeline can do)", "Playback", field="full_speed"),
    ActionSpec("overlay", "Overlay", ("O",), "class colours over the frame", "View", "View", field="overlay"),
    ActionSpec("arrows", "Guidance", ("G",), "guidance offsets as arrows", "View", "View", field="arrows"),
    ActionSpec("flow", "Flow", ("F",), "guidance offsets as flow colours (hue = direction; replaces the class colours)",
               "View", "View", field="flow"),
    ActionSpec("layout_side_by_side", "Side by side", ("B",), "side by side: GUM, bilinear, the bilinear twin when it "
               "is loaded, ground truth (or disagreement)", "View", "View", checked_when="side-by-side"),
    ActionSpec("layout_wipe", "Wipe", ("W",), "wipe GUM / bilinear (drag the line)", "View", "View", checked_when="wipe"),
    ActionSpec("switch_decoder", "Switch decoder", ("D",), "single view: switch GUM / bilinear decoder", "View"),
    ActionSpec("more_opacity", "More opacity", ("+", "="), "more overlay opacity", "View"),
    ActionSpec("less_opacity", "Less opacity", ("-",), "less overlay opacity", "View"),
    ActionSpec("help", "Help", ("F1", "H"), "show the help and every shortcut", "Help", "Tools"),
)


def make_actions(parent: QWidget, state: AppState, commands: Mapping[str, Callable[[], None]]) -> dict[str, QAction]:
    """A QAction per spec, shortcuts active anywhere in `parent`'s window."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, parent)
        action.setObjectName(f"action_{spec.name}")
        action.setShortcuts([QKeySequence(k) for k in spec.keys])
        keys = " / ".join(spec.keys)
        action.setToolTip(f"{spec.help} ({keys})" if keys else spec.help)
        if spec.field is not None:
            action.setCheckable(True)
            action.setChecked(bool(getattr(state, spec.field)))
            action.toggled.connect(lambda on, f=spec.field: setattr(state, f, on))
        else:
            if spec.checked_when is not None:
                action.setCheckable(True)
                action.setChecked(state.layout == spec.checked_when)
            action.triggered.connect(lambda _=False, c=commands[spec.name]: c())
        parent.addAction(action)  # shortcuts work even when the action sits in no visible toolbar
        actions[spec.name] = action
    return actions


def sync_actions(actions: Mapping[str, QAction], state: AppState) -> None:
    """Check boxes follow the state (which may change from elsewhere: keys, tests, start-up)."""
    for spec in ACTIONS:
        action = actions[spec.name]
        checked = bool(getattr(state, spec.field)) if spec.field else (state.layout == spec.checked_when
                                                                     if spec.checked_when else None)
        if checked is not None and action.isChecked() != checked:
            action.blockSignals(True)
            action.setChecked(checked)
            action.blockSignals(False)


def help_rows() -> list[tuple[str, str]]:
    """(keys, description) of every shortcut, for the help."""
    return [(" / ".join(s.keys), s.help) for s in ACTIONS if s.keys] + [("click", "inspect a pixel: classes, offset, sampled cell")]
