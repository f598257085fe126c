-- Nothing on SQLite: FTS5 answers a prefix query from its own term index without materialising
-- posting lists. The PostgreSQL migration of the same number adds the lexeme vocabulary its
-- searches expand prefixes with (../postgres/0012_search_words.sql).
SELECT 1;
