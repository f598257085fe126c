-- The vocabulary of the full-text index (PostgreSQL): every lexeme that ever entered
-- `correspondences.search_vector`. A query word is a prefix ("certif" finds "certificat"); GIN
-- answers a prefix by reading the posting list of every matching lexeme into a bitmap, which
-- costs ~100 ms for a name found in 5 % of a million records, whereas exact lexemes joined by AND
-- are intersected by skipping (~6 ms). The search expands each word to its lexemes here (a
-- B-tree range under the C collation) and queries them exactly: the same matches, found faster.
-- Triggers keep it in step with the records (a word whose records are gone only expands to a
-- lexeme that matches nothing). Keep in step with ../sqlite/0012_search_words.sql.
CREATE TABLE search_words (
    word TEXT COLLATE "C" PRIMARY KEY
);

-- Lexemes are inserted in sorted order (a tsvector's array is sorted, and DISTINCT/ORDER BY keep
-- it so) so that two transactions adding the same new words wait on each other in one order and
-- never deadlock.
CREATE FUNCTION search_words_from_new_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT DISTINCT w FROM new_rows, unnest(tsvector_to_array(new_rows.search_vector)) AS w
    ORDER BY w
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION search_words_from_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT w FROM unnest(tsvector_to_array(NEW.search_vector)) AS w
    ORDER BY w
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER correspondences_search_words_insert
    AFTER INSERT ON correspondences
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_words_from_new_rows();

CREATE TRIGGER correspondences_search_words_update
    AFTER UPDATE OF search_text ON correspondences
    FOR EACH ROW WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text)
    EXECUTE FUNCTION search_words_from_row();

INSERT INTO search_words (word)
SELECT DISTINCT w FROM correspondences, unnest(tsvector_to_array(search_vector)) AS w
ORDER BY w
ON CONFLICT DO NOTHING;
