"""Storage: the engines, sessions and the one write path (`db`), what SQLite needs besides
(`sqlite`: connection settings, waiting for the write lock, the change stamp), hot-path statements
(`prepared`) and the migrations' configuration (`migrations`)."""
