"""Widgets of the app; each observes app.state.AppState and never touches the model."""
