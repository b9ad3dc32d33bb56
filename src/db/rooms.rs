//! Rooms: a patient's place for visits, open until closed or the patient is discharged.

use sqlx::FromRow;

use super::Handle;

use crate::domain::RandomId;

/// A room with the patient it belongs to.
#[derive(Debug, Clone, FromRow)]
pub struct RoomView {
    pub id: String,
    pub patient_id: String,
    pub patient_name: String,
    pub ward_id: String,
    /// The ward's name.
    pub ward: String,
    pub bed: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

impl RoomView {
    /// True while the room is open.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// A `SELECT` of [`RoomView`] rows followed by the given clauses, as one static string.
macro_rules! select_room_view {
    ($clauses:literal) => {
        concat!(
            "SELECT r.id, r.patient_id, p.display_name AS patient_name, p.ward_id,
                    w.name AS ward, p.bed, r.created_at, r.closed_at
             FROM rooms r JOIN patients p ON p.id = r.patient_id JOIN wards w ON w.id = p.ward_id ",
            $clauses
        )
    };
}

/// Creates a room for a patient who is still admitted. Returns `None` when the patient is unknown
/// or discharged; the check and the insert are one statement, so a discharge cannot slip between.
pub async fn create(
    conn: impl Into<Handle<'_>>,
    patient_id: &str,
    created_by: &str,
) -> sqlx::Result<Option<String>> {
    crate::on_db!(conn, |conn| {
        let id = RandomId::new();
        let done = sqlx::query(
            "INSERT INTO rooms (id, patient_id, created_at, created_by)
             SELECT $1, id, $3, $4 FROM patients WHERE id = $2 AND discharged_at IS NULL",
        )
        .bind(id.as_str())
        .bind(patient_id)
        .bind(super::now())
        .bind(created_by)
        .execute(&mut *conn)
        .await?;
        Ok((done.rows_affected() == 1).then(|| id.to_string()))
    })
}

/// The room with this id.
pub async fn find(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<RoomView>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_room_view!("WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&mut *db)
            .await
    })
}

/// Every open room, newest first.
pub async fn list_open(db: impl Into<Handle<'_>>) -> sqlx::Result<Vec<RoomView>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_room_view!(
            "WHERE r.closed_at IS NULL ORDER BY r.created_at DESC, w.name, p.bed"
        ))
        .fetch_all(&mut *db)
        .await
    })
}

/// A patient's rooms, open first, newest first.
pub async fn list_for_patient(
    db: impl Into<Handle<'_>>,
    patient_id: &str,
) -> sqlx::Result<Vec<RoomView>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_room_view!(
            "WHERE r.patient_id = $1 ORDER BY r.closed_at IS NOT NULL, r.created_at DESC"
        ))
        .bind(patient_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// Closes one room; false when it was already closed or does not exist.
pub async fn close(conn: impl Into<Handle<'_>>, id: &str, by: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE rooms SET closed_at = $2, closed_by = $3 WHERE id = $1 AND closed_at IS NULL",
        )
        .bind(id)
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Closes every open room of a patient and returns their ids.
pub async fn close_all_for_patient(
    conn: impl Into<Handle<'_>>,
    patient_id: &str,
    by: &str,
) -> sqlx::Result<Vec<String>> {
    crate::on_db!(conn, |conn| {
        let closed: Vec<(String,)> = sqlx::query_as(
            "UPDATE rooms SET closed_at = $2, closed_by = $3
             WHERE patient_id = $1 AND closed_at IS NULL RETURNING id",
        )
        .bind(patient_id)
        .bind(super::now())
        .bind(by)
        .fetch_all(&mut *conn)
        .await?;
        Ok(closed.into_iter().map(|(id,)| id).collect())
    })
}
