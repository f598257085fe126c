-- A split receipt's own part (after the prefix all receipts share) kept in the filing's row,
-- written in the transaction that records the receipt, instead of a blob file of its own.
-- receipt_tail still holds its SHA-256. NULL: the tail is the blob named by receipt_tail
-- (receipts stored before this change).
ALTER TABLE filings ADD COLUMN receipt_tail_bytes BYTEA;
