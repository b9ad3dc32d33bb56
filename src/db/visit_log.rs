//! The visit log: who was in which call, when, for how long, and why it ended.

use sqlx::FromRow;

use super::Handle;

use crate::domain::{CallRole, EndReason};

/// Who a stay is of: the same person in the same room has one stay at a time.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub room_id: &'a str,
    pub role: CallRole,
    pub staff_id: Option<&'a str>,
    pub invite_id: Option<&'a str>,
}

/// One participant's stay, as stored.
pub struct NewVisit<'a> {
    pub person: Person<'a>,
    pub display_name: &'a str,
    /// How long before its start a visit opens, to find the visit a staff member's or the
    /// patient's stay belongs to.
    pub early_secs: i64,
}

/// Records that a participant joined; returns the row id to close later.
pub async fn record_join(db: impl Into<Handle<'_>>, visit: &NewVisit<'_>) -> sqlx::Result<i64> {
    crate::on_db!(db, |db| {
        // fetch_all, not fetch_one/fetch_optional: SQLite reports a failed commit (a full disk) when
        // the statement runs to its end, which fetching only the first row never does.
        let rows: Vec<(i64,)> = sqlx::query_as(
            "INSERT INTO visit_log (room_id, patient_id, role, display_name, staff_id, invite_id, joined_at,
                                    scheduled_visit_id)
             SELECT r.id, r.patient_id, $2, $3, $4, $5, $6,
                    COALESCE((SELECT i.visit_id FROM invites i WHERE i.id = $5),
                             (SELECT v.id FROM visits v
                              WHERE v.room_id = r.id AND v.cancelled_at IS NULL
                                AND v.starts_at - $7 <= $6 AND COALESCE(v.ended_at, v.ends_at) > $6
                              ORDER BY v.starts_at LIMIT 1))
             FROM rooms r WHERE r.id = $1 RETURNING id",
        )
        .bind(visit.person.room_id)
        .bind(visit.person.role.as_str())
        .bind(visit.display_name)
        .bind(visit.person.staff_id)
        .bind(visit.person.invite_id)
        .bind(super::now())
        .bind(visit.early_secs)
        .fetch_all(&mut *db)
        .await?;
        rows.first()
            .map(|(id,)| *id)
            .ok_or(sqlx::Error::RowNotFound)
    })
}

/// Takes back a person's stay after the server stopped (closed as `server-shutdown` or
/// `server-restart` at or after `since`, or left open), counting one rejoin; `None` when there
/// is none to take back.
pub async fn resume(
    db: impl Into<Handle<'_>>,
    person: &Person<'_>,
    since: i64,
) -> sqlx::Result<Option<i64>> {
    crate::on_db!(db, |db| {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "UPDATE visit_log SET left_at = NULL, end_reason = NULL, rejoins = rejoins + 1
             WHERE id = (SELECT id FROM visit_log
                         WHERE room_id = $1 AND role = $2
                           AND staff_id IS NOT DISTINCT FROM $3 AND invite_id IS NOT DISTINCT FROM $4
                           AND (left_at IS NULL
                                OR (end_reason IN ('server-shutdown', 'server-restart')
                                    AND left_at >= $5))
                         ORDER BY id DESC LIMIT 1)
             RETURNING id",
        )
        .bind(person.room_id)
        .bind(person.role.as_str())
        .bind(person.staff_id)
        .bind(person.invite_id)
        .bind(since)
        .fetch_all(&mut *db)
        .await?;
        Ok(rows.first().map(|(id,)| *id))
    })
}

/// Counts one rejoin on a stay (the person's page came back after a lost connection).
pub async fn count_rejoin(db: impl Into<Handle<'_>>, id: i64) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query("UPDATE visit_log SET rejoins = rejoins + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *db)
            .await?;
        Ok(())
    })
}

/// Records that a participant left and why.
pub async fn record_leave(
    db: impl Into<Handle<'_>>,
    id: i64,
    reason: EndReason,
) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query(
            "UPDATE visit_log SET left_at = $2, end_reason = $3 WHERE id = $1 AND left_at IS NULL",
        )
        .bind(id)
        .bind(super::now())
        .bind(reason.as_str())
        .execute(&mut *db)
        .await?;
        metrics::counter!("visitas_stays_ended_total", "reason" => reason.as_str()).increment(1);
        Ok(())
    })
}

/// Closes stays left open by a crash or kill: nobody is in a call when the server starts.
pub async fn close_dangling(db: impl Into<Handle<'_>>) -> sqlx::Result<u64> {
    crate::on_db!(db, |db| {
        let done =
            sqlx::query("UPDATE visit_log SET left_at = $1, end_reason = $2 WHERE left_at IS NULL")
                .bind(super::now())
                .bind(EndReason::ServerRestart.as_str())
                .execute(&mut *db)
                .await?;
        Ok(done.rows_affected())
    })
}

/// One row of the administrators' visit log page.
#[derive(Debug, Clone, FromRow)]
pub struct VisitRow {
    pub id: i64,
    pub room_id: String,
    pub patient_name: String,
    pub ward: String,
    pub bed: String,
    pub role: CallRole,
    pub display_name: String,
    pub staff_username: Option<String>,
    pub invite_id: Option<String>,
    pub joined_at: i64,
    pub left_at: Option<i64>,
    pub end_reason: Option<EndReason>,
    /// The scheduled visit the stay belongs to, if any.
    pub scheduled_visit_id: Option<String>,
    /// How many times the person's page came back after a lost connection.
    pub rejoins: i64,
    /// The call page's latest call-quality summary, when it sent one.
    pub sent_kbps: Option<i64>,
    pub received_kbps: Option<i64>,
    pub loss_permille: Option<i64>,
    pub audio_only_secs: Option<i64>,
}

impl VisitRow {
    /// Packets lost, as a percentage with one decimal, when the page reported it.
    pub fn loss_percent(&self) -> String {
        self.loss_permille
            .map(|p| format!("{}.{} %", p / 10, p % 10))
            .unwrap_or_default()
    }

    /// Time its video was paused to keep the sound, as minutes and seconds.
    pub fn audio_only(&self) -> String {
        self.audio_only_secs
            .map(|s| format!("{}:{:02}", s / 60, s % 60))
            .unwrap_or_default()
    }

    /// Minutes and seconds in the call, when it has ended.
    pub fn duration(&self) -> String {
        match self.left_at {
            Some(left) => {
                let secs = (left - self.joined_at).max(0);
                format!("{}:{:02}", secs / 60, secs % 60)
            }
            None => "…".to_string(),
        }
    }
}

macro_rules! select_stays {
    ($clauses:literal) => {
        concat!(
            "SELECT v.id, v.room_id, p.display_name AS patient_name, w.name AS ward, p.bed, v.role,
                    v.display_name, s.username AS staff_username, v.invite_id, v.joined_at,
                    v.left_at, v.end_reason, v.scheduled_visit_id, v.rejoins, v.sent_kbps,
                    v.received_kbps, v.loss_permille, v.audio_only_secs
             FROM visit_log v
             JOIN patients p ON p.id = v.patient_id
             JOIN wards w ON w.id = p.ward_id
             LEFT JOIN staff s ON s.id = v.staff_id ",
            $clauses
        )
    };
}

/// The stays of one visit, in the order they began.
pub async fn stays_of_visit(
    db: impl Into<Handle<'_>>,
    visit_id: &str,
) -> sqlx::Result<Vec<VisitRow>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_stays!(
            "WHERE v.scheduled_visit_id = $1 ORDER BY v.joined_at, v.id"
        ))
        .bind(visit_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// The newest `limit` stays outside any scheduled visit (staff checking a room, calls from
/// before the scheduler), newest first.
pub async fn unscheduled_stays(
    db: impl Into<Handle<'_>>,
    limit: i64,
) -> sqlx::Result<Vec<VisitRow>> {
    crate::on_db!(db, |db| {
        // The limit written, not bound (see `history::page`).
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} {limit}",
            select_stays!(
                "WHERE v.scheduled_visit_id IS NULL ORDER BY v.joined_at DESC, v.id DESC LIMIT"
            )
        )))
        .fetch_all(&mut *db)
        .await
    })
}
