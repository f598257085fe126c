-- The text of documents joins the search: `text_state` says how a document was read by the
-- background job (NULL: not yet; 'text': its PDF text layer; 'ocr': optical character
-- recognition; 'none': nothing to read; 'failed'). Its words are appended to the record's
-- `search_text`, which the full-text index follows.
ALTER TABLE documents ADD COLUMN text_state TEXT;
CREATE INDEX documents_text_pending ON documents (created_at) WHERE text_state IS NULL;
