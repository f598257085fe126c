-- Where a signature or seal step's visible block goes: a placeholder text written in the
-- documents (e.g. `#signature-dg#`), found in the page content when the step signs. NULL: the
-- block goes in a row at the foot of the last page. Same in both engines.
ALTER TABLE folder_steps ADD COLUMN tag TEXT;
