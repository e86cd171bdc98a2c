"""On-disk formats: the snapshot (write and restore), the journal, private atomic files."""
