-- The deadline a correspondence carries, in full: the type of request it was computed for and
-- the rule's length and unit, so that the receipt and the record say the same thing even after
-- the administration changes its rules. Keep in step with the other engine.
ALTER TABLE correspondences ADD COLUMN procedure TEXT;
ALTER TABLE correspondences ADD COLUMN deadline_days INTEGER;
ALTER TABLE correspondences ADD COLUMN deadline_working INTEGER NOT NULL DEFAULT 1;
