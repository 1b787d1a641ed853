"""The store: the write path of spans and log records, the search index written with them,
the database router of the span store and retention."""
