"""The demo bookshop database, served when no database is configured."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
from pathlib import Path

VERSION = 1  # stored as PRAGMA user_version: a demo file of another version is rebuilt
_lock = threading.Lock()

SCHEMA = """
CREATE TABLE authors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    born INTEGER
);
CREATE TABLE books (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    author_id INTEGER NOT NULL REFERENCES authors(id),
    year INTEGER NOT NULL,
    genre TEXT NOT NULL,
    price REAL NOT NULL
);
CREATE TABLE sales (
    id INTEGER PRIMARY KEY,
    book_id INTEGER NOT NULL REFERENCES books(id),
    sold_on TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    store TEXT NOT NULL
);
CREATE INDEX sales_book ON sales(book_id);
CREATE VIEW book_revenue AS
    SELECT b.title, a.name AS author, SUM(s.quantity) AS copies,
           ROUND(SUM(s.quantity * b.price), 2) AS revenue
    FROM sales s JOIN books b ON b.id = s.book_id JOIN authors a ON a.id = b.author_id
    GROUP BY b.id;
"""

AUTHORS = [
    (1, "Jane Austen", "United Kingdom", 1775),
    (2, "Leo Tolstoy", "Russia", 1828),
    (3, "Mary Shelley", "United Kingdom", 1797),
    (4, "Herman Melville", "United States", 1819),
    (5, "Fyodor Dostoevsky", "Russia", 1821),
    (6, "Virginia Woolf", "United Kingdom", 1882),
]
BOOKS = [
    (1, "Pride and Prejudice", 1, 1813, "romance", 9.99),
    (2, "Emma", 1, 1815, "romance", 8.5),
    (3, "War and Peace", 2, 1869, "historical", 14.0),
    (4, "Anna Karenina", 2, 1878, "romance", 12.5),
    (5, "Frankenstein", 3, 1818, "horror", 7.99),
    (6, "Moby-Dick", 4, 1851, "adventure", 11.25),
    (7, "Crime and Punishment", 5, 1866, "crime", 10.0),
    (8, "The Brothers Karamazov", 5, 1880, "philosophical", 13.75),
    (9, "Mrs Dalloway", 6, 1925, "modernist", 9.0),
    (10, "To the Lighthouse", 6, 1927, "modernist", 9.5),
]
SALES = [
    (1, 1, "2024-01-05", 3, "London"),
    (2, 5, "2024-01-09", 1, "Paris"),
    (3, 3, "2024-01-14", 2, "London"),
    (4, 6, "2024-02-02", 1, "New York"),
    (5, 1, "2024-02-11", 4, "New York"),
    (6, 7, "2024-02-20", 2, "Paris"),
    (7, 9, "2024-03-01", 1, "London"),
    (8, 4, "2024-03-08", 3, "Paris"),
    (9, 2, "2024-03-15", 2, "London"),
    (10, 8, "2024-03-22", 1, "New York"),
    (11, 5, "2024-04-02", 5, "London"),
    (12, 10, "2024-04-10", 1, "Paris"),
    (13, 1, "2024-04-18", 2, "Paris"),
    (14, 6, "2024-05-03", 2, "London"),
    (15, 3, "2024-05-12", 1, "New York"),
    (16, 7, "2024-05-27", 3, "London"),
    (17, 9, "2024-06-04", 2, "New York"),
    (18, 4, "2024-06-15", 1, "London"),
    (19, 5, "2024-06-21", 2, "New York"),
    (20, 8, "2024-06-30", 2, "Paris"),
]


def demo_path() -> Path:
    return Path(tempfile.gettempdir()) / "mcp-runner-sqlite-demo.db"


def ensure_demo(path: Path) -> Path:
    """Create the demo database at `path` unless a current one is there (safe to call often)."""
    if _is_current(path):
        return path
    with _lock:
        if _is_current(path):
            return path
        # Build beside it and rename into place, so a reader never sees a half-built file.
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        with contextlib.closing(sqlite3.connect(partial)) as conn:
            conn.executescript(SCHEMA)
            conn.executemany("INSERT INTO authors VALUES (?, ?, ?, ?)", AUTHORS)
            conn.executemany("INSERT INTO books VALUES (?, ?, ?, ?, ?, ?)", BOOKS)
            conn.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", SALES)
            conn.execute(f"PRAGMA user_version = {VERSION}")
            conn.commit()
        os.replace(partial, path)
    return path


def _is_current(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            return bool(conn.execute("PRAGMA user_version").fetchone()[0] == VERSION)
    except sqlite3.Error:
        return False
