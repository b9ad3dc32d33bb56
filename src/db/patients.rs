//! Patients: registration, search and discharge.

use sqlx::FromRow;

use super::Handle;

use crate::domain::{Bed, PersonName, RandomId, RecordNumber};

/// One patient as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Patient {
    pub id: String,
    pub display_name: String,
    pub ward_id: String,
    /// The ward's name.
    pub ward: String,
    pub bed: String,
    pub record_number: Option<String>,
    pub created_at: i64,
    pub discharged_at: Option<i64>,
    /// Set while the patient takes no visits, with the reason.
    pub no_visits_reason: Option<String>,
    /// How the bedside device answers: 'auto' (after a countdown) or 'tap'.
    pub bedside_answer: String,
    /// The bedside starts its calls with the camera off.
    pub camera_off_at_start: bool,
}

/// A `SELECT` of [`Patient`] rows followed by the given clauses, as one static string.
macro_rules! select_patient {
    ($clauses:literal) => {
        concat!(
            "SELECT p.id, p.display_name, p.ward_id, w.name AS ward, p.bed, p.record_number,
                    p.created_at, p.discharged_at, p.no_visits_reason, p.bedside_answer,
                    p.camera_off_at_start
             FROM patients p JOIN wards w ON w.id = p.ward_id ",
            $clauses
        )
    };
}

/// Who may see a ward's patients: `None` for administrators (every ward), else the staff
/// member whose assigned wards count.
pub type Scope<'a> = Option<&'a str>;

impl Patient {
    /// True once the patient has been discharged.
    pub fn is_discharged(&self) -> bool {
        self.discharged_at.is_some()
    }
}

/// Sets how the patient's bedside device answers and whether it starts with the camera off;
/// false when the patient is unknown or discharged.
pub async fn set_bedside(
    conn: impl Into<Handle<'_>>,
    id: &str,
    answer: &str,
    camera_off_at_start: bool,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE patients SET bedside_answer = $2, camera_off_at_start = $3
             WHERE id = $1 AND discharged_at IS NULL",
        )
        .bind(id)
        .bind(answer)
        .bind(camera_off_at_start)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// A validated patient to register.
pub struct NewPatient {
    pub display_name: PersonName,
    pub ward_id: String,
    pub bed: Bed,
    pub record_number: Option<RecordNumber>,
}

/// Stores a patient and returns the new id. A taken record number is a unique violation.
pub async fn create(
    conn: impl Into<Handle<'_>>,
    new: &NewPatient,
    created_by: &str,
) -> sqlx::Result<String> {
    crate::on_db!(conn, |conn| {
        let id = RandomId::new();
        sqlx::query(
            "INSERT INTO patients (id, display_name, ward_id, bed, record_number, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(new.display_name.as_str())
        .bind(&new.ward_id)
        .bind(new.bed.as_str())
        .bind(new.record_number.as_ref().map(RecordNumber::as_str))
        .bind(super::now())
        .bind(created_by)
        .execute(&mut *conn)
        .await?;
        Ok(id.to_string())
    })
}

/// The patient with this id.
pub async fn find(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<Patient>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_patient!("WHERE p.id = $1"))
            .bind(id)
            .fetch_optional(&mut *db)
            .await
    })
}

/// Patients of the wards `scope` sees whose name, ward, bed or record number contains `query`
/// (all when empty); admitted patients first, then by ward, bed and name. At most 200 rows.
pub async fn search(
    db: impl Into<Handle<'_>>,
    query: &str,
    scope: Scope<'_>,
) -> sqlx::Result<Vec<Patient>> {
    crate::on_db!(db, |db| {
        let pattern = format!("%{}%", escape_like(query.trim()));
        sqlx::query_as(select_patient!(
            "WHERE ($1 = '%%'
                OR lower(p.display_name) LIKE lower($1) ESCAPE '\\'
                OR lower(w.name) LIKE lower($1) ESCAPE '\\'
                OR lower(p.bed) LIKE lower($1) ESCAPE '\\'
                OR lower(p.record_number) LIKE lower($1) ESCAPE '\\')
               AND ($2 IS NULL OR p.ward_id IN (SELECT ward_id FROM staff_wards WHERE staff_id = $2))
             ORDER BY p.discharged_at IS NOT NULL, w.name, p.bed, p.display_name
             LIMIT 200"
        ))
        .bind(pattern)
        .bind(scope)
        .fetch_all(&mut *db)
        .await
    })
}

/// A patient's editable details.
pub struct PatientEdit<'a> {
    pub display_name: &'a PersonName,
    pub ward_id: &'a str,
    pub bed: &'a Bed,
    pub record_number: Option<&'a RecordNumber>,
}

/// Changes a patient's name, ward, bed and record number; false when unknown. A taken record
/// number is a unique violation.
pub async fn update(
    conn: impl Into<Handle<'_>>,
    id: &str,
    edit: &PatientEdit<'_>,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE patients SET display_name = $2, ward_id = $3, bed = $4, record_number = $5
             WHERE id = $1",
        )
        .bind(id)
        .bind(edit.display_name.as_str())
        .bind(edit.ward_id)
        .bind(edit.bed.as_str())
        .bind(edit.record_number.map(RecordNumber::as_str))
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Marks the patient as taking no visits (with the reason), or clears it with `None`.
pub async fn set_no_visits(
    conn: impl Into<Handle<'_>>,
    id: &str,
    reason: Option<&str>,
) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query("UPDATE patients SET no_visits_reason = $2 WHERE id = $1")
            .bind(id)
            .bind(reason)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Escapes LIKE wildcards so a search for `50%` finds "50%" and not everything.
fn escape_like(input: &str) -> String {
    input
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Marks the patient discharged; returns false when already discharged or unknown.
pub async fn discharge(conn: impl Into<Handle<'_>>, id: &str, by: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE patients SET discharged_at = $2, discharged_by = $3
             WHERE id = $1 AND discharged_at IS NULL",
        )
        .bind(id)
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Admits a discharged patient again (a discharge made by mistake); false when not discharged.
pub async fn readmit(conn: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE patients SET discharged_at = NULL, discharged_by = NULL
             WHERE id = $1 AND discharged_at IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The admitted patients of one ward, by bed and name.
pub async fn admitted_in_ward(
    db: impl Into<Handle<'_>>,
    ward_id: &str,
) -> sqlx::Result<Vec<Patient>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_patient!(
            "WHERE p.ward_id = $1 AND p.discharged_at IS NULL ORDER BY p.bed, p.display_name"
        ))
        .bind(ward_id)
        .fetch_all(&mut *db)
        .await
    })
}
