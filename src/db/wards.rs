//! Wards: their visiting hours and exceptions, limits, and which nurses work in them.

use sqlx::FromRow;

use super::Handle;

use crate::domain::{DateException, RandomId, VisitingHours, Window};

/// A ward as stored, without its hours.
#[derive(Debug, Clone, FromRow)]
pub struct Ward {
    pub id: String,
    pub name: String,
    pub default_minutes: i64,
    pub max_minutes: i64,
    pub max_video_visits: i64,
    /// The bedside admits relatives by itself at the visit's start (else a nurse admits).
    pub auto_admit: bool,
    /// The idle bedside screen may show the patient's first name.
    pub bedside_shows_name: bool,
    /// The ward's phone for relatives ("" when none).
    pub phone: String,
}

/// A ward with its hours and exceptions: all the scheduler needs.
#[derive(Debug, Clone)]
pub struct WardRules {
    pub ward: Ward,
    pub hours: VisitingHours,
    /// The exceptions with their ids and reasons, in date order (also folded into `hours`).
    pub exceptions: Vec<ExceptionRow>,
}

/// One date exception as the ward page lists it.
#[derive(Debug, Clone)]
pub struct ExceptionRow {
    pub id: String,
    pub reason: String,
    pub exception: DateException,
}

/// A ward to store, validated.
pub struct WardInput<'a> {
    pub name: &'a str,
    pub default_minutes: i64,
    pub max_minutes: i64,
    pub max_video_visits: i64,
    pub auto_admit: bool,
    pub bedside_shows_name: bool,
    pub phone: &'a str,
    pub week: &'a [Vec<Window>; 7],
}

/// Every ward, by name.
pub async fn list(db: impl Into<Handle<'_>>) -> sqlx::Result<Vec<Ward>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT id, name, default_minutes, max_minutes, max_video_visits, auto_admit,
                    bedside_shows_name, phone FROM wards ORDER BY name",
        )
        .fetch_all(&mut *db)
        .await
    })
}

/// The ward with this id.
pub async fn find(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<Ward>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(
            "SELECT id, name, default_minutes, max_minutes, max_video_visits, auto_admit,
                    bedside_shows_name, phone FROM wards WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *db)
        .await
    })
}

/// Every ward with its hours and exceptions.
pub async fn load_rules(conn: impl Into<Handle<'_>>) -> sqlx::Result<Vec<WardRules>> {
    crate::on_db!(conn, |conn| {
        let wards = list(&mut *conn).await?;
        let hours: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT ward_id, weekday, start_minute, end_minute FROM ward_hours ORDER BY start_minute",
        )
        .fetch_all(&mut *conn)
        .await?;
        let exceptions: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, ward_id, first_day, last_day, reason FROM ward_exceptions
             WHERE removed_at IS NULL ORDER BY first_day, created_at",
        )
        .fetch_all(&mut *conn)
        .await?;
        let exception_hours: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT h.exception_id, h.start_minute, h.end_minute
             FROM ward_exception_hours h JOIN ward_exceptions e ON e.id = h.exception_id
             WHERE e.removed_at IS NULL ORDER BY h.start_minute",
        )
        .fetch_all(&mut *conn)
        .await?;

        let window = |start: i64, end: i64| Window {
            start: u16::try_from(start).unwrap_or(0),
            end: u16::try_from(end).unwrap_or(0),
        };
        Ok(wards
            .into_iter()
            .map(|ward| {
                let mut week: [Vec<Window>; 7] = Default::default();
                for (_, day, start, end) in hours.iter().filter(|h| h.0 == ward.id) {
                    if let Some(slot) = usize::try_from(*day).ok().and_then(|d| week.get_mut(d)) {
                        slot.push(window(*start, *end));
                    }
                }
                let rows: Vec<ExceptionRow> = exceptions
                    .iter()
                    .filter(|e| e.1 == ward.id)
                    .filter_map(|(id, _, first, last, reason)| {
                        Some(ExceptionRow {
                            id: id.clone(),
                            reason: reason.clone(),
                            exception: DateException {
                                first: first.parse().ok()?,
                                last: last.parse().ok()?,
                                windows: exception_hours
                                    .iter()
                                    .filter(|h| &h.0 == id)
                                    .map(|h| window(h.1, h.2))
                                    .collect(),
                            },
                        })
                    })
                    .collect();
                WardRules {
                    hours: VisitingHours {
                        week,
                        exceptions: rows.iter().map(|r| r.exception.clone()).collect(),
                    },
                    exceptions: rows,
                    ward,
                }
            })
            .collect())
    })
}

async fn write_week(
    conn: impl Into<Handle<'_>>,
    ward_id: &str,
    week: &[Vec<Window>; 7],
) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        sqlx::query("DELETE FROM ward_hours WHERE ward_id = $1")
            .bind(ward_id)
            .execute(&mut *conn)
            .await?;
        for (day, windows) in week.iter().enumerate() {
            for window in windows {
                sqlx::query(
                    "INSERT INTO ward_hours (ward_id, weekday, start_minute, end_minute)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(ward_id)
                .bind(i64::try_from(day).unwrap_or(0))
                .bind(i64::from(window.start))
                .bind(i64::from(window.end))
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    })
}

/// Stores a new ward and returns its id. A taken name is a unique violation.
pub async fn create(conn: impl Into<Handle<'_>>, input: &WardInput<'_>) -> sqlx::Result<String> {
    crate::on_db!(conn, |conn| {
        let id = RandomId::new();
        sqlx::query(
            "INSERT INTO wards (id, name, default_minutes, max_minutes, max_video_visits, created_at,
                                auto_admit, bedside_shows_name, phone)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.as_str())
        .bind(input.name)
        .bind(input.default_minutes)
        .bind(input.max_minutes)
        .bind(input.max_video_visits)
        .bind(super::now())
        .bind(input.auto_admit)
        .bind(input.bedside_shows_name)
        .bind(input.phone)
        .execute(&mut *conn)
        .await?;
        write_week(conn, id.as_str(), input.week).await?;
        Ok(id.to_string())
    })
}

/// Changes a ward; false when it does not exist. A taken name is a unique violation.
pub async fn update(
    conn: impl Into<Handle<'_>>,
    id: &str,
    input: &WardInput<'_>,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE wards SET name = $2, default_minutes = $3, max_minutes = $4, max_video_visits = $5,
                    auto_admit = $6, bedside_shows_name = $7, phone = $8
             WHERE id = $1",
        )
        .bind(id)
        .bind(input.name)
        .bind(input.default_minutes)
        .bind(input.max_minutes)
        .bind(input.max_video_visits)
        .bind(input.auto_admit)
        .bind(input.bedside_shows_name)
        .bind(input.phone)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        write_week(conn, id, input.week).await?;
        Ok(true)
    })
}

/// Adds a date exception to a ward and returns its id.
pub async fn add_exception(
    conn: impl Into<Handle<'_>>,
    ward_id: &str,
    exception: &DateException,
    reason: &str,
    by: &str,
) -> sqlx::Result<String> {
    crate::on_db!(conn, |conn| {
        let id = RandomId::new();
        sqlx::query(
            "INSERT INTO ward_exceptions (id, ward_id, first_day, last_day, reason, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(ward_id)
        .bind(exception.first.to_string())
        .bind(exception.last.to_string())
        .bind(reason)
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        for window in &exception.windows {
            sqlx::query(
                "INSERT INTO ward_exception_hours (exception_id, start_minute, end_minute)
                 VALUES ($1, $2, $3)",
            )
            .bind(id.as_str())
            .bind(i64::from(window.start))
            .bind(i64::from(window.end))
            .execute(&mut *conn)
            .await?;
        }
        Ok(id.to_string())
    })
}

/// Removes a date exception of a ward; false when there is no such active exception.
pub async fn remove_exception(
    conn: impl Into<Handle<'_>>,
    ward_id: &str,
    id: &str,
    by: &str,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE ward_exceptions SET removed_at = $3, removed_by = $4
             WHERE id = $1 AND ward_id = $2 AND removed_at IS NULL",
        )
        .bind(id)
        .bind(ward_id)
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The wards a staff member is assigned to.
pub async fn assigned_to(db: impl Into<Handle<'_>>, staff_id: &str) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, |db| {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT ward_id FROM staff_wards WHERE staff_id = $1")
                .bind(staff_id)
                .fetch_all(&mut *db)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    })
}

/// Every assignment: (staff id, ward id).
pub async fn all_assignments(db: impl Into<Handle<'_>>) -> sqlx::Result<Vec<(String, String)>> {
    crate::on_db!(db, |db| {
        sqlx::query_as("SELECT staff_id, ward_id FROM staff_wards")
            .fetch_all(&mut *db)
            .await
    })
}

/// Replaces a staff member's wards with `ward_ids` (unknown ids are ignored).
pub async fn assign(
    conn: impl Into<Handle<'_>>,
    staff_id: &str,
    ward_ids: &[String],
) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        sqlx::query("DELETE FROM staff_wards WHERE staff_id = $1")
            .bind(staff_id)
            .execute(&mut *conn)
            .await?;
        for ward_id in ward_ids {
            sqlx::query(
                "INSERT INTO staff_wards (staff_id, ward_id) SELECT $1, id FROM wards WHERE id = $2",
            )
            .bind(staff_id)
            .bind(ward_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    })
}
