//! The register of relatives authorised to visit a patient.

use sqlx::FromRow;

use super::Handle;

use crate::domain::RandomId;

/// One authorised (or withdrawn) relative, with who authorised them.
#[derive(Debug, Clone, FromRow)]
pub struct Relative {
    pub id: String,
    pub patient_id: String,
    pub display_name: String,
    pub relationship: String,
    pub lang: String,
    pub contact: Option<String>,
    pub note: Option<String>,
    pub authorised_at: i64,
    pub authorised_by_name: String,
    pub withdrawn_at: Option<i64>,
}

impl Relative {
    /// True while the authorisation stands.
    pub fn is_authorised(&self) -> bool {
        self.withdrawn_at.is_none()
    }
}

macro_rules! select_relative {
    ($clauses:literal) => {
        concat!(
            "SELECT r.id, r.patient_id, r.display_name, r.relationship, r.lang, r.contact, r.note,
                    r.authorised_at, s.display_name AS authorised_by_name, r.withdrawn_at
             FROM relatives r JOIN staff s ON s.id = r.authorised_by ",
            $clauses
        )
    };
}

/// A relative to authorise, validated.
pub struct NewRelative<'a> {
    pub patient_id: &'a str,
    pub display_name: &'a str,
    pub relationship: &'a str,
    pub lang: &'a str,
    pub contact: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// Stores a relative for an admitted patient; `None` when the patient is discharged or unknown.
pub async fn create(
    conn: impl Into<Handle<'_>>,
    new: &NewRelative<'_>,
    by: &str,
) -> sqlx::Result<Option<String>> {
    crate::on_db!(conn, |conn| {
        let id = RandomId::new();
        let done = sqlx::query(
            "INSERT INTO relatives (id, patient_id, display_name, relationship, lang, contact, note,
                                    authorised_at, authorised_by)
             SELECT $1, id, $3, $4, $5, $6, $7, $8, $9 FROM patients
             WHERE id = $2 AND discharged_at IS NULL",
        )
        .bind(id.as_str())
        .bind(new.patient_id)
        .bind(new.display_name)
        .bind(new.relationship)
        .bind(new.lang)
        .bind(new.contact)
        .bind(new.note)
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        Ok((done.rows_affected() == 1).then(|| id.to_string()))
    })
}

/// The relative with this id.
pub async fn find(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<Relative>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_relative!("WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&mut *db)
            .await
    })
}

/// A patient's relatives: authorised first, then by name.
pub async fn list_for_patient(
    db: impl Into<Handle<'_>>,
    patient_id: &str,
) -> sqlx::Result<Vec<Relative>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_relative!(
            "WHERE r.patient_id = $1 ORDER BY r.withdrawn_at IS NOT NULL, r.display_name"
        ))
        .bind(patient_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// Withdraws an authorisation; false when already withdrawn or unknown.
pub async fn withdraw(conn: impl Into<Handle<'_>>, id: &str, by: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE relatives SET withdrawn_at = $2, withdrawn_by = $3
             WHERE id = $1 AND withdrawn_at IS NULL",
        )
        .bind(id)
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// A relative's visits still to come or running (not cancelled), and their invites still in
/// force: what withdrawing them touches.
pub async fn open_visits_and_invites(
    db: impl Into<Handle<'_>>,
    relative_id: &str,
    now: i64,
) -> sqlx::Result<(i64, Vec<String>)> {
    crate::on_db!(db, |db| {
        let (visits,): (i64,) = sqlx::query_as(
            "SELECT COUNT(DISTINCT v.id) FROM invites i JOIN visits v ON v.id = i.visit_id
             WHERE i.relative_id = $1 AND i.revoked_at IS NULL AND v.cancelled_at IS NULL
               AND COALESCE(v.ended_at, v.ends_at) > $2",
        )
        .bind(relative_id)
        .bind(now)
        .fetch_one(&mut *db)
        .await?;
        let invites: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM invites WHERE relative_id = $1 AND revoked_at IS NULL")
                .bind(relative_id)
                .fetch_all(&mut *db)
                .await?;
        Ok((visits, invites.into_iter().map(|(id,)| id).collect()))
    })
}
