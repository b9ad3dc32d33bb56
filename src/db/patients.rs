//! Patients: registration, search and discharge.

use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

use crate::domain::{Bed, PersonName, RandomId, RecordNumber, Ward};

/// One patient as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Patient {
    pub id: String,
    pub display_name: String,
    pub ward: String,
    pub bed: String,
    pub record_number: Option<String>,
    pub created_at: i64,
    pub discharged_at: Option<i64>,
}

impl Patient {
    /// True once the patient has been discharged.
    pub fn is_discharged(&self) -> bool {
        self.discharged_at.is_some()
    }
}

/// A validated patient to register.
pub struct NewPatient {
    pub display_name: PersonName,
    pub ward: Ward,
    pub bed: Bed,
    pub record_number: Option<RecordNumber>,
}

/// Stores a patient and returns the new id. A taken record number is a unique violation.
pub async fn create(
    conn: &mut SqliteConnection,
    new: &NewPatient,
    created_by: &str,
) -> sqlx::Result<String> {
    let id = RandomId::new();
    sqlx::query(
        "INSERT INTO patients (id, display_name, ward, bed, record_number, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.as_str())
    .bind(new.display_name.as_str())
    .bind(new.ward.as_str())
    .bind(new.bed.as_str())
    .bind(new.record_number.as_ref().map(RecordNumber::as_str))
    .bind(super::now())
    .bind(created_by)
    .execute(conn)
    .await?;
    Ok(id.to_string())
}

/// The patient with this id.
pub async fn find(db: impl SqliteExecutor<'_>, id: &str) -> sqlx::Result<Option<Patient>> {
    sqlx::query_as("SELECT * FROM patients WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Patients whose name, ward, bed or record number contains `query` (all when empty); admitted
/// patients first, then by ward, bed and name. At most 200 rows.
pub async fn search(db: impl SqliteExecutor<'_>, query: &str) -> sqlx::Result<Vec<Patient>> {
    let pattern = format!("%{}%", escape_like(query.trim()));
    sqlx::query_as(
        "SELECT * FROM patients
         WHERE $1 = '%%'
            OR display_name LIKE $1 ESCAPE '\\'
            OR ward LIKE $1 ESCAPE '\\'
            OR bed LIKE $1 ESCAPE '\\'
            OR record_number LIKE $1 ESCAPE '\\'
         ORDER BY discharged_at IS NOT NULL, ward, bed, display_name
         LIMIT 200",
    )
    .bind(pattern)
    .fetch_all(db)
    .await
}

/// Escapes LIKE wildcards so a search for `50%` finds "50%" and not everything.
fn escape_like(input: &str) -> String {
    input
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Marks the patient discharged; returns false when already discharged or unknown.
pub async fn discharge(conn: &mut SqliteConnection, id: &str, by: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE patients SET discharged_at = $2, discharged_by = $3
         WHERE id = $1 AND discharged_at IS NULL",
    )
    .bind(id)
    .bind(super::now())
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
