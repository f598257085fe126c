-- Newest-first listings and searches walk this index instead of sorting every match: the
-- register view, and on PostgreSQL a full-text query whose words are common (the planner then
-- filters the index walk with the tsvector and stops at the page). Same in both engines.
CREATE INDEX correspondences_created ON correspondences (administration_id, created_at, id);
