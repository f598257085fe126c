-- A document removed from a folder is kept, marked removed (microseconds since the epoch), so
-- that versions signed in earlier rounds stay with their history and their blobs are kept.
ALTER TABLE folder_documents ADD COLUMN removed_at BIGINT;
