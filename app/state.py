"""The app's state: plain values that widgets observe through one signal.

Widgets never talk to each other: a toggle sets a field, the field emits `changed(name, value)`,
and whoever draws that field redraws. Tests set fields and assert on widgets.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Signal

from gun.render.annotate import ViewSettings

T = TypeVar("T")


class Field(Generic[T]):
    """A state attribute that emits `changed(name, value)` when it is set to a different value."""

    def __init__(self, default: T) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        return obj._values.get(self.name, self.default)

    def __set__(self, obj: Any, value: T) -> None:
        if obj._values.get(self.name, self.default) == value:
            return
        obj._values[self.name] = value
        obj.changed.emit(self.name, value)


class AppState(QObject):
    changed = Signal(str, object)  # (field name, new value)

    # what is playing, and with which model
    source: Field[str] = Field("")  # spec given to gun.io.video.open_source, "" = none
    weights: Field[str] = Field("")  # checkpoint path
    device: Field[str] = Field("auto")  # "auto" | "cpu" | "cuda"
    dtype: Field[str] = Field("auto")  # "auto" until a model is loaded, then what it runs: "float32" | "bfloat16" | "float16"
    playing: Field[bool] = Field(True)
    loop: Field[bool] = Field(True)  # restart videos at their end
    full_speed: Field[bool] = Field(False)  # videos as fast as the model allows, not at their frame rate

    # what is drawn (see gun.render.annotate.ViewSettings)
    overlay: Field[bool] = Field(True)
    alpha: Field[float] = Field(0.5)
    visible: Field[tuple[bool, ...]] = Field(())  # per class; () = all
    arrows: Field[bool] = Field(False)
    flow: Field[bool] = Field(False)
    layout: Field[str] = Field("single")  # "single" | "side-by-side" | "wipe"
    decoder: Field[str] = Field("gum")  # what the single layout shows: "gum" | "bilinear"
    wipe: Field[float] = Field(0.5)

    # what the model says about itself (from checkpoint metadata)
    class_names: Field[tuple[str, ...]] = Field(())
    palette: Field[tuple[tuple[int, int, int], ...]] = Field(())

    # one line for the user: an error, or what just happened
    message: Field[str] = Field("")
    error: Field[bool] = Field(False)  # whether `message` reports a failure

    VIEW_FIELDS = frozenset({"overlay", "alpha", "visible", "arrows", "flow", "layout", "decoder", "wipe"})

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values: dict[str, Any] = {}

    def view(self) -> ViewSettings:
        return ViewSettings(
            overlay=self.overlay, alpha=self.alpha, visible=self.visible or None, arrows=self.arrows,
            flow=self.flow, layout=self.layout, decoder=self.decoder, wipe=self.wipe,  # type: ignore[arg-type]
            grid=True,  # side by side as 2 x 2: a window is closer to 4:3 than to 4:1
        )

    def say(self, message: str, error: bool = False) -> None:
        """Show a message; set the error flag first so observers of `message` see both."""
        self.error = error
        self._values["message"] = None  # re-emit even when the same message repeats
        self.message = message

    def toggle(self, name: str) -> None:
        setattr(self, name, not getattr(self, name))

    def set_class_visible(self, index: int, visible: bool) -> None:
        current = list(self.visible or (True,) * len(self.class_names))
        if 0 <= index < len(current):
            current[index] = visible
            self.visible = tuple(current)
