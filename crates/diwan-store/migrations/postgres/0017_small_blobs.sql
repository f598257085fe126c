-- Documents of a registration up to 64 KiB, kept in the database and written by the
-- registration's own transaction instead of as blob files (see small_blobs.rs). Named by their
-- SHA-256 in hex, as in documents.sha256; stored once whatever the number of records using them.
CREATE TABLE small_blobs (
    sha256 TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL
);
