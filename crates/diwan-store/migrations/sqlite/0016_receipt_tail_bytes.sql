-- A split receipt's own part (after the prefix all receipts share) kept in the filing's row,
-- written in the transaction that records the receipt, instead of a blob file of its own.
-- receipt_tail still holds its SHA-256. NULL: the tail is the blob named by receipt_tail
-- (receipts stored before this change).
ALTER TABLE filings ADD COLUMN receipt_tail_bytes BLOB;

-- The filings still waiting for their receipts (after a stop between a filing's commit and its
-- sealing), which the server looks for every 30 seconds: found without reading every filing's
-- row, now that rows hold their receipt's tail.
CREATE INDEX filings_without_receipt ON filings (created_at)
    WHERE receipt_pdf IS NULL OR receipt_json IS NULL;
