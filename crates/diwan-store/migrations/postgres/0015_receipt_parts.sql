-- A sealed receipt PDF may be stored in two blobs: the bytes every receipt starts with (the
-- header and the fonts, the same for all) once for all, and the rest of each receipt. The PDF
-- is their concatenation and keeps its own hash in receipt_pdf. Both NULL: the PDF is one
-- blob named by receipt_pdf (receipts stored before this change).
ALTER TABLE filings ADD COLUMN receipt_prefix TEXT;
ALTER TABLE filings ADD COLUMN receipt_tail TEXT;
