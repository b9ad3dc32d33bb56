-- Finding the stays a crash left open, at every start, without reading the whole visit log.
CREATE INDEX visit_log_open ON visit_log (id) WHERE left_at IS NULL;
-- The desk and the visit log read a day's visits across wards.
CREATE INDEX visits_time ON visits (starts_at);
