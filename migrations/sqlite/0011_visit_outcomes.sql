-- The administrators' visit log: how each visit turned out, and how each stay's call went.

-- Set when the visit is cancelled, or once it is over (its end passed and no relative is left in
-- its call):
-- 'cancelled'; 'revoked' (a relative was removed from it, or their invite revoked, before it
-- ended: ending a visit early is not a revocation); 'missed' (no
-- relative came); 'network' (someone's connection was lost for good); else 'completed'.
-- NULL while it is upcoming or running.
ALTER TABLE visits ADD COLUMN outcome TEXT
    CHECK (outcome IN ('completed', 'missed', 'cancelled', 'network', 'revoked'));
-- The visits left to settle: those whose end has passed and are not settled yet.
CREATE INDEX visits_unsettled ON visits (COALESCE(ended_at, ends_at)) WHERE outcome IS NULL;
UPDATE visits SET outcome = 'cancelled' WHERE cancelled_at IS NOT NULL;
-- Only settled visits: an index of the unsettled ones here would look better to the planner
-- than `visits_unsettled` for "outcome IS NULL" and make every check of them a long scan.
CREATE INDEX visits_outcome_time ON visits (outcome, starts_at) WHERE outcome IS NOT NULL;
-- One ward's visits of one outcome by time (the log's usual filter), settled ones only.
CREATE INDEX visits_ward_outcome_time ON visits (ward_id, outcome, starts_at)
    WHERE outcome IS NOT NULL;
CREATE INDEX visits_creator_time ON visits (created_by, starts_at);
CREATE INDEX admissions_admitted_by ON admissions (admitted_by);
-- The stays of an invite (the retention purge, a relative's return).
CREATE INDEX visit_log_invite ON visit_log (invite_id);

-- What the call page reports about a stay's call (the latest of its summaries): average bitrate
-- sent and received (kbit/s), packets lost (per thousand received), seconds its video was paused
-- to keep the sound.
ALTER TABLE visit_log ADD COLUMN sent_kbps INTEGER;
ALTER TABLE visit_log ADD COLUMN received_kbps INTEGER;
ALTER TABLE visit_log ADD COLUMN loss_permille INTEGER;
ALTER TABLE visit_log ADD COLUMN audio_only_secs INTEGER;
