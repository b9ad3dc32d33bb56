//! Scheduled visits: booking, moving, cancelling and ending them, and the lists the desk, the week
//! view and the rules read. A visit's effective end is when a nurse ended it, else its scheduled
//! end.

use sqlx::FromRow;

use super::Handle;

use crate::domain::{OverrideReason, Span};

/// A visit with its patient and ward.
#[derive(Debug, Clone, FromRow)]
pub struct Visit {
    pub id: String,
    pub patient_id: String,
    pub patient_name: String,
    pub bed: String,
    pub ward_id: String,
    pub ward: String,
    pub room_id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub override_reason: Option<String>,
    pub override_note: Option<String>,
    pub series_id: Option<String>,
    pub created_at: i64,
    pub created_by_name: String,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub ended_at: Option<i64>,
}

impl Visit {
    /// When it ends: when a nurse ended it, or as scheduled.
    pub fn effective_end(&self) -> i64 {
        self.ended_at.unwrap_or(self.ends_at)
    }

    /// Its scheduled length in minutes.
    pub fn minutes(&self) -> i64 {
        (self.ends_at - self.starts_at) / 60
    }

    /// Why it was booked outside visiting hours, if it was.
    pub fn override_reason(&self) -> Option<OverrideReason> {
        self.override_reason
            .as_deref()
            .and_then(OverrideReason::parse)
    }

    /// True while it can still be moved, cancelled or ended: not cancelled and not over.
    pub fn is_changeable(&self, now: i64) -> bool {
        self.cancelled_at.is_none() && self.effective_end() > now
    }
}

macro_rules! select_visit {
    ($clauses:literal) => {
        concat!(
            "SELECT v.id, v.patient_id, p.display_name AS patient_name, p.bed, v.ward_id,
                    w.name AS ward, v.room_id, v.starts_at, v.ends_at, v.override_reason,
                    v.override_note, v.series_id, v.created_at, s.display_name AS created_by_name,
                    v.cancelled_at, v.cancel_reason, v.ended_at
             FROM visits v
             JOIN patients p ON p.id = v.patient_id
             JOIN wards w ON w.id = v.ward_id
             JOIN staff s ON s.id = v.created_by ",
            $clauses
        )
    };
}

/// A visit to store.
pub struct NewVisit<'a> {
    pub id: &'a str,
    pub patient_id: &'a str,
    pub ward_id: &'a str,
    pub room_id: &'a str,
    pub span: Span,
    pub override_reason: Option<OverrideReason>,
    pub override_note: Option<&'a str>,
    pub series_id: Option<&'a str>,
    pub created_by: &'a str,
}

/// Stores a visit.
pub async fn insert(conn: impl Into<Handle<'_>>, new: &NewVisit<'_>) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        sqlx::query(
            "INSERT INTO visits (id, patient_id, ward_id, room_id, starts_at, ends_at, override_reason,
                                 override_note, series_id, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(new.id)
        .bind(new.patient_id)
        .bind(new.ward_id)
        .bind(new.room_id)
        .bind(new.span.start)
        .bind(new.span.end)
        .bind(new.override_reason.map(OverrideReason::as_str))
        .bind(new.override_note)
        .bind(new.series_id)
        .bind(super::now())
        .bind(new.created_by)
        .execute(&mut *conn)
        .await?;
        Ok(())
    })
}

/// When the visit running in a room now (or opening within `early_secs`) ends.
pub async fn current_end(
    db: impl Into<Handle<'_>>,
    room_id: &str,
    now: i64,
    early_secs: i64,
) -> sqlx::Result<Option<i64>> {
    crate::on_db!(db, |db| {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT COALESCE(ended_at, ends_at) FROM visits
             WHERE room_id = $1 AND cancelled_at IS NULL
               AND starts_at - $3 <= $2 AND COALESCE(ended_at, ends_at) > $2
             ORDER BY starts_at LIMIT 1",
        )
        .bind(room_id)
        .bind(now)
        .bind(early_secs)
        .fetch_all(&mut *db)
        .await?;
        Ok(rows.first().map(|(end,)| *end))
    })
}

/// The visit with this id.
pub async fn find(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<Visit>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_visit!("WHERE v.id = $1"))
            .bind(id)
            .fetch_optional(&mut *db)
            .await
    })
}

/// The spans of a patient's visits (not cancelled) that overlap `span`, but `except`.
pub async fn patient_spans(
    conn: impl Into<Handle<'_>>,
    patient_id: &str,
    span: Span,
    except: Option<&str>,
) -> sqlx::Result<Vec<Span>> {
    crate::on_db!(conn, |conn| {
        spans(
            conn,
            "SELECT starts_at, COALESCE(ended_at, ends_at) FROM visits
             WHERE patient_id = $1 AND cancelled_at IS NULL AND starts_at < $3
               AND COALESCE(ended_at, ends_at) > $2 AND ($4 IS NULL OR id <> $4)
             ORDER BY starts_at",
            patient_id,
            span,
            except,
        )
        .await
    })
}

/// The spans of a ward's visits (not cancelled) that overlap `span`, but `except`.
pub async fn ward_spans(
    conn: impl Into<Handle<'_>>,
    ward_id: &str,
    span: Span,
    except: Option<&str>,
) -> sqlx::Result<Vec<Span>> {
    crate::on_db!(conn, |conn| {
        spans(
            conn,
            "SELECT starts_at, COALESCE(ended_at, ends_at) FROM visits
             WHERE ward_id = $1 AND cancelled_at IS NULL AND starts_at < $3
               AND COALESCE(ended_at, ends_at) > $2 AND ($4 IS NULL OR id <> $4)",
            ward_id,
            span,
            except,
        )
        .await
    })
}

async fn spans(
    conn: impl Into<Handle<'_>>,
    sql: &'static str,
    owner: &str,
    span: Span,
    except: Option<&str>,
) -> sqlx::Result<Vec<Span>> {
    crate::on_db!(conn, |conn| {
        let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
            .bind(owner)
            .bind(span.start)
            .bind(span.end)
            .bind(except)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(start, end)| Span { start, end })
            .collect())
    })
}

/// Visits starting in `span` in the wards `scope` sees (`None`: every ward), optionally of one
/// ward, in time order.
pub async fn list_between(
    db: impl Into<Handle<'_>>,
    span: Span,
    scope: Option<&str>,
    ward_id: Option<&str>,
) -> sqlx::Result<Vec<Visit>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_visit!(
            "WHERE v.starts_at >= $1 AND v.starts_at < $2
               AND ($3 IS NULL OR v.ward_id IN (SELECT ward_id FROM staff_wards WHERE staff_id = $3))
               AND ($4 IS NULL OR v.ward_id = $4)
             ORDER BY v.starts_at, p.bed, v.id"
        ))
        .bind(span.start)
        .bind(span.end)
        .bind(scope)
        .bind(ward_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// A patient's visits that have not ended yet (cancelled ones too), in time order.
pub async fn upcoming_for_patient(
    db: impl Into<Handle<'_>>,
    patient_id: &str,
    now: i64,
) -> sqlx::Result<Vec<Visit>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_visit!(
            "WHERE v.patient_id = $1 AND COALESCE(v.ended_at, v.ends_at) > $2
             ORDER BY v.starts_at LIMIT 200"
        ))
        .bind(patient_id)
        .bind(now)
        .fetch_all(&mut *db)
        .await
    })
}

/// A ward's booked visits that have not started yet, in time order.
pub async fn future_for_ward(
    db: impl Into<Handle<'_>>,
    ward_id: &str,
    now: i64,
) -> sqlx::Result<Vec<Visit>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_visit!(
            "WHERE v.ward_id = $1 AND v.starts_at > $2 AND v.cancelled_at IS NULL
             ORDER BY v.starts_at"
        ))
        .bind(ward_id)
        .bind(now)
        .fetch_all(&mut *db)
        .await
    })
}

/// The ids of a patient's booked visits that have not ended yet.
pub async fn open_ids_for_patient(
    conn: impl Into<Handle<'_>>,
    patient_id: &str,
    now: i64,
) -> sqlx::Result<Vec<String>> {
    crate::on_db!(conn, |conn| {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM visits WHERE patient_id = $1 AND cancelled_at IS NULL
               AND COALESCE(ended_at, ends_at) > $2",
        )
        .bind(patient_id)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    })
}

/// Moves a visit (and its override) and the window of its invites; false when it can no longer
/// change.
pub async fn reschedule(
    conn: impl Into<Handle<'_>>,
    id: &str,
    span: Span,
    override_reason: Option<OverrideReason>,
    override_note: Option<&str>,
    opens_before_secs: i64,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let now = super::now();
        let done = sqlx::query(
            "UPDATE visits SET starts_at = $2, ends_at = $3, override_reason = $4, override_note = $5
             WHERE id = $1 AND cancelled_at IS NULL AND COALESCE(ended_at, ends_at) > $6",
        )
        .bind(id)
        .bind(span.start)
        .bind(span.end)
        .bind(override_reason.map(OverrideReason::as_str))
        .bind(override_note)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE invites SET opens_at = $2, expires_at = $3 WHERE visit_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(span.start - opens_before_secs)
        .bind(span.end)
        .execute(&mut *conn)
        .await?;
        Ok(true)
    })
}

/// Cancels a visit with a reason; false when it can no longer change. Its invites stop working
/// (the relative is told the visit was cancelled).
pub async fn cancel(
    conn: impl Into<Handle<'_>>,
    id: &str,
    by: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let now = super::now();
        let done = sqlx::query(
            "UPDATE visits SET cancelled_at = $2, cancelled_by = $3, cancel_reason = $4, outcome = 'cancelled'
             WHERE id = $1 AND cancelled_at IS NULL AND COALESCE(ended_at, ends_at) > $2",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Ends a running or future visit now; false when it can no longer change.
pub async fn end_now(conn: impl Into<Handle<'_>>, id: &str, by: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let now = super::now();
        let done = sqlx::query(
            "UPDATE visits SET ended_at = $2, ended_by = $3
             WHERE id = $1 AND cancelled_at IS NULL AND COALESCE(ended_at, ends_at) > $2",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE invites SET expires_at = $2 WHERE visit_id = $1 AND expires_at > $2")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(true)
    })
}

/// Moves a patient's visits that have not started to their new ward.
pub async fn move_future_to_ward(
    conn: impl Into<Handle<'_>>,
    patient_id: &str,
    ward_id: &str,
    now: i64,
) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        sqlx::query("UPDATE visits SET ward_id = $2 WHERE patient_id = $1 AND starts_at > $3")
            .bind(patient_id)
            .bind(ward_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(())
    })
}

/// What the desk shows of a visit's relatives: (visit id, invite id, relative name,
/// relationship, opened at).
#[derive(Debug, Clone, FromRow)]
pub struct VisitInvite {
    pub visit_id: String,
    pub invite_id: String,
    pub relative_id: Option<String>,
    pub relative_name: String,
    pub relationship: String,
    pub lang: String,
    pub opened_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The invites of the visits starting in `span` that `scope` sees.
pub async fn invites_between(
    db: impl Into<Handle<'_>>,
    span: Span,
    scope: Option<&str>,
    ward_id: Option<&str>,
) -> sqlx::Result<Vec<VisitInvite>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT i.visit_id, i.id AS invite_id, i.relative_id, i.relative_name, i.relationship,
                    i.lang, i.opened_at, i.revoked_at
             FROM invites i JOIN visits v ON v.id = i.visit_id
             WHERE v.starts_at >= $1 AND v.starts_at < $2
               AND ($3 IS NULL OR v.ward_id IN (SELECT ward_id FROM staff_wards WHERE staff_id = $3))
               AND ($4 IS NULL OR v.ward_id = $4)
             ORDER BY i.relative_name",
        )
        .bind(span.start)
        .bind(span.end)
        .bind(scope)
        .bind(ward_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// The invites of one visit.
pub async fn invites_of(
    db: impl Into<Handle<'_>>,
    visit_id: &str,
) -> sqlx::Result<Vec<VisitInvite>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT visit_id, id AS invite_id, relative_id, relative_name, relationship, lang,
                    opened_at, revoked_at
             FROM invites WHERE visit_id = $1 ORDER BY relative_name",
        )
        .bind(visit_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// Relatives' stays in the visits starting in `span`: (visit id, first join, last leave or
/// `None` while someone is in, number of stays).
#[derive(Debug, Clone, FromRow)]
pub struct Attendance {
    pub visit_id: String,
    pub first_join: i64,
    pub last_leave: Option<i64>,
    pub open_stays: i64,
}

/// How relatives attended the visits starting in `span` that `scope` sees.
pub async fn attendance_between(
    db: impl Into<Handle<'_>>,
    span: Span,
    scope: Option<&str>,
    ward_id: Option<&str>,
) -> sqlx::Result<Vec<Attendance>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT l.scheduled_visit_id AS visit_id, MIN(l.joined_at) AS first_join,
                    MAX(l.left_at) AS last_leave,
                    SUM(CASE WHEN l.left_at IS NULL THEN 1 ELSE 0 END) AS open_stays
             FROM visit_log l JOIN visits v ON v.id = l.scheduled_visit_id
             WHERE l.role = 'relative' AND v.starts_at >= $1 AND v.starts_at < $2
               AND ($3 IS NULL OR v.ward_id IN (SELECT ward_id FROM staff_wards WHERE staff_id = $3))
               AND ($4 IS NULL OR v.ward_id = $4)
             GROUP BY l.scheduled_visit_id",
        )
        .bind(span.start)
        .bind(span.end)
        .bind(scope)
        .bind(ward_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// Visits not over whose every invite is revoked (their last relative was withdrawn).
pub async fn left_without_relatives(
    conn: impl Into<Handle<'_>>,
    now: i64,
) -> sqlx::Result<Vec<String>> {
    crate::on_db!(conn, |conn| {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT v.id FROM visits v
             WHERE v.cancelled_at IS NULL AND COALESCE(v.ended_at, v.ends_at) > $1
               AND EXISTS (SELECT 1 FROM invites i WHERE i.visit_id = v.id)
               AND NOT EXISTS (SELECT 1 FROM invites i WHERE i.visit_id = v.id AND i.revoked_at IS NULL)",
        )
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    })
}

/// Per room, the start of its current or next booked visit (one that has not ended).
pub async fn next_per_room(
    db: impl Into<Handle<'_>>,
    now: i64,
) -> sqlx::Result<std::collections::HashMap<String, i64>> {
    crate::on_db!(db, |db| {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT room_id, MIN(starts_at) FROM visits
             WHERE cancelled_at IS NULL AND COALESCE(ended_at, ends_at) > $1
             GROUP BY room_id",
        )
        .bind(now)
        .fetch_all(&mut *db)
        .await?;
        Ok(rows.into_iter().collect())
    })
}
