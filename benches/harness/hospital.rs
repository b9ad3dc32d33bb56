//! A hospital-sized data set for the scheduler's figures: 40 wards, 1,200 patients, 6,000
//! relatives and 30,000 visits over 90 days (45 days back, 45 ahead), written straight into the
//! SQLite file before the server starts (the same rows the app would write, far faster than 37,000
//! form posts), and the same data as JSON for the reference's in-memory pages.

use std::path::Path;

use chrono::{Duration, Local, NaiveTime, TimeZone};
use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

/// Sizes of the data set.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub wards: usize,
    pub patients_per_ward: usize,
    pub relatives_per_patient: usize,
    pub visits_per_patient: usize,
    pub days: i64,
}

impl Size {
    /// The hospital.
    pub const FULL: Size = Size {
        wards: 40,
        patients_per_ward: 30,
        relatives_per_patient: 5,
        visits_per_patient: 25,
        days: 90,
    };

    /// Small, for the test command.
    pub const QUICK: Size = Size {
        wards: 4,
        patients_per_ward: 10,
        relatives_per_patient: 2,
        visits_per_patient: 10,
        days: 30,
    };
}

/// What was generated, for the load and the reference.
pub struct Hospital {
    /// Ward ids, in order.
    pub wards: Vec<String>,
    /// (patient id, ward index, first relative id).
    pub patients: Vec<(String, usize, String)>,
    /// The reference's copy of everything its pages show.
    pub reference: Value,
}

fn id(kind: char, n: usize) -> String {
    // 22 characters, like the program's own ids.
    format!("{kind}{n:0>21}")
}

/// Visiting hours of every generated ward: 08:00-22:00 every day.
pub const OPEN: u16 = 8 * 60;
pub const CLOSE: u16 = 22 * 60;

impl Hospital {
    /// The open rooms of these wards as the reference's rooms page shows them, each with its
    /// current or next visit written as Visitas writes it.
    pub fn rooms_of(&self, wards: &[String]) -> Vec<Value> {
        let now = chrono::Utc::now().timestamp();
        let write = |secs: i64| {
            chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .with_timezone(&Local)
        };
        let mut rooms = Vec::new();
        for (p, patient) in self.reference["patients"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let ward = patient["ward"].as_str().unwrap();
            if !wards.iter().any(|w| w == ward) {
                continue;
            }
            let next = self.reference["visits"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["patient"] == p && v["cancelled"] == false)
                .filter(|v| v["ends"].as_i64().unwrap() > now)
                .min_by_key(|v| v["starts"].as_i64().unwrap())
                .map(|v| {
                    write(v["starts"].as_i64().unwrap())
                        .format("%d/%m/%Y %H:%M")
                        .to_string()
                });
            let ward_name = self.reference["wards"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["id"] == ward)
                .map(|w| w["name"].clone())
                .unwrap();
            let room = v_room(p);
            rooms.push(json!({
                "id": room, "patient_id": patient["id"], "patient_name": patient["name"],
                "ward": ward_name, "bed": patient["bed"], "created": "23/11/2026 10:00",
                "next": next,
            }));
        }
        rooms
    }
}

fn v_room(p: usize) -> String {
    id('R', p)
}

/// Writes the data set into the (migrated) database at `location` (a SQLite file or a
/// PostgreSQL database); its first account authored it.
pub async fn generate(location: &visitas::db::Location, size: Size) -> Hospital {
    let pool = visitas::db::open(location).await.unwrap();
    let (admin_id,): (String,) =
        visitas::sql!(&pool, |c| sqlx::query_as("SELECT id FROM staff LIMIT 1")
            .fetch_one(&mut *c)
            .await)
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let today = Local::now().date_naive();
    let mut tx = pool.begin().await.unwrap();
    let mut wards = Vec::new();
    let mut ref_wards = Vec::new();
    for w in 0..size.wards {
        let ward = id('W', w);
        let name = format!("Unidad {:02}", w + 1);
        visitas::sql!(&mut tx, |c| sqlx::query(
            "INSERT INTO wards (id, name, default_minutes, max_minutes, max_video_visits, created_at)
             VALUES ($1, $2, 30, 120, 100, $3)",
        )
        .bind(&ward)
        .bind(&name)
        .bind(now)
        .execute(&mut *c).await.map(|done| done.rows_affected()))
        .unwrap();
        for day in 0..7 {
            visitas::sql!(&mut tx, |c| sqlx::query(
                "INSERT INTO ward_hours (ward_id, weekday, start_minute, end_minute)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&ward)
            .bind(day)
            .bind(i64::from(OPEN))
            .bind(i64::from(CLOSE))
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected()))
            .unwrap();
        }
        ref_wards.push(json!({ "id": ward, "name": name, "max": 100, "step": 30 }));
        wards.push(ward);
    }

    let mut patients = Vec::new();
    let mut ref_patients = Vec::new();
    let mut ref_visits = Vec::new();
    let (mut n_relative, mut n_visit) = (0, 0);
    let first_day = today - Duration::days(size.days / 2);
    for (w, ward_id) in wards.iter().enumerate() {
        for b in 0..size.patients_per_ward {
            let p = w * size.patients_per_ward + b;
            let patient = id('P', p);
            let room = id('R', p);
            let name = format!("Paciente {p:04}");
            visitas::sql!(&mut tx, |c| sqlx::query(
                "INSERT INTO patients (id, display_name, ward_id, bed, record_number, created_at,
                                       created_by)
                 VALUES ($1, $2, $3, $4, NULL, $5, $6)",
            )
            .bind(&patient)
            .bind(&name)
            .bind(ward_id)
            .bind((b + 1).to_string())
            .bind(now)
            .bind(&admin_id)
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected()))
            .unwrap();
            visitas::sql!(&mut tx, |c| sqlx::query(
                "INSERT INTO rooms (id, patient_id, created_at, created_by) VALUES ($1, $2, $3, $4)",
            )
            .bind(&room)
            .bind(&patient)
            .bind(now)
            .bind(&admin_id)
            .execute(&mut *c).await.map(|done| done.rows_affected()))
            .unwrap();
            let mut relatives = Vec::new();
            for r in 0..size.relatives_per_patient {
                let relative = id('F', n_relative);
                n_relative += 1;
                let rel_name = format!("Familiar {p:04}-{r}");
                visitas::sql!(&mut tx, |c| sqlx::query(
                    "INSERT INTO relatives (id, patient_id, display_name, relationship, lang,
                                            authorised_at, authorised_by)
                     VALUES ($1, $2, $3, 'hija', 'es', $4, $5)",
                )
                .bind(&relative)
                .bind(&patient)
                .bind(&rel_name)
                .bind(now)
                .bind(&admin_id)
                .execute(&mut *c)
                .await
                .map(|done| done.rows_affected()))
                .unwrap();
                relatives.push((relative, rel_name));
            }
            // Visits every few days, at a time of day of the patient's own within the hours.
            for k in 0..size.visits_per_patient {
                let visit = id('V', n_visit);
                n_visit += 1;
                let day = first_day
                    + Duration::days(
                        (k as i64 * size.days) / size.visits_per_patient as i64 + (p as i64 % 3),
                    );
                let minute = u32::from(OPEN) + ((p * 7 + k * 3) % 26) as u32 * 30;
                let local =
                    day.and_time(NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap());
                let starts = Local
                    .from_local_datetime(&local)
                    .earliest()
                    .unwrap()
                    .timestamp();
                let ends = starts + 30 * 60;
                let cancelled = (p + k).is_multiple_of(20);
                let overridden = (p + k) % 50 == 7;
                visitas::sql!(&mut tx, |c| sqlx::query(
                    "INSERT INTO visits (id, patient_id, ward_id, room_id, starts_at, ends_at,
                                         override_reason, created_at, created_by, cancelled_at,
                                         cancelled_by, cancel_reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&visit)
                .bind(&patient)
                .bind(ward_id)
                .bind(&room)
                .bind(starts)
                .bind(ends)
                .bind(overridden.then_some("clinical"))
                .bind(now)
                .bind(&admin_id)
                .bind(cancelled.then_some(now))
                .bind(cancelled.then_some(admin_id.as_str()))
                .bind(cancelled.then_some("Prueba"))
                .execute(&mut *c)
                .await
                .map(|done| done.rows_affected()))
                .unwrap();
                let (relative, rel_name) = &relatives[k % relatives.len()];
                let invite = id('I', n_visit);
                let opened = (starts < now && !(p + k).is_multiple_of(5)).then_some(starts - 300);
                visitas::sql!(&mut tx, |c| sqlx::query(
                    "INSERT INTO invites (id, room_id, relative_name, relationship, lang,
                                          token_hash, code_hash, created_at, created_by,
                                          expires_at, visit_id, relative_id, opens_at, opened_at)
                     VALUES ($1, $2, $3, 'hija', 'es', $4, 'x', $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&invite)
                .bind(&room)
                .bind(rel_name)
                .bind(format!("bench-{invite}"))
                .bind(now)
                .bind(&admin_id)
                .bind(ends)
                .bind(&visit)
                .bind(relative)
                .bind(starts - 15 * 60)
                .bind(opened)
                .execute(&mut *c)
                .await
                .map(|done| done.rows_affected()))
                .unwrap();
                let came = opened.is_some() && ends < now && !cancelled;
                if came {
                    for (role, who) in [("patient", name.as_str()), ("relative", rel_name.as_str())]
                    {
                        visitas::sql!(&mut tx, |c| sqlx::query(
                            "INSERT INTO visit_log (room_id, patient_id, role, display_name,
                                                    invite_id, joined_at, left_at, end_reason,
                                                    scheduled_visit_id)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, 'hangup', $8)",
                        )
                        .bind(&room)
                        .bind(&patient)
                        .bind(role)
                        .bind(who)
                        .bind((role == "relative").then_some(invite.as_str()))
                        .bind(starts + 60)
                        .bind(ends - 60)
                        .bind(&visit)
                        .execute(&mut *c)
                        .await
                        .map(|done| done.rows_affected()))
                        .unwrap();
                    }
                }
                ref_visits.push(json!({
                    "id": visit, "patient": p, "ward": ward_id, "room": room,
                    "starts": starts, "ends": ends, "cancelled": cancelled,
                    "override": overridden, "relative": format!("{rel_name} (hija)"),
                    "opened": opened.is_some(), "came": came,
                    "first_join": came.then_some(starts + 60), "last_leave": came.then_some(ends - 60),
                }));
            }
            ref_patients.push(
                json!({ "id": patient, "name": name, "bed": (b + 1).to_string(), "ward": ward_id }),
            );
            patients.push((patient, w, relatives[0].0.clone()));
        }
    }
    tx.commit().await.unwrap();
    // As a database at rest is: on SQLite everything in the main file, the write-ahead log
    // empty; on PostgreSQL its statistics fresh.
    let settle = match pool.engine() {
        visitas::db::Engine::Sqlite => "PRAGMA wal_checkpoint(TRUNCATE)",
        visitas::db::Engine::Postgres => "ANALYZE",
    };
    visitas::sql!(&pool, |c| sqlx::query(settle)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected()))
    .unwrap();
    pool.close().await;
    Hospital {
        reference: json!({ "wards": ref_wards, "patients": ref_patients, "visits": ref_visits }),
        wards,
        patients,
    }
}

/// A year of past visits on top of the hospital (the visit log's data set): `visits` visits
/// spread evenly over the last 365 days among the hospital's patients, each with an invite for
/// one of the patient's relatives; the relative's stay for those that happened. Outcomes: a
/// tenth missed, a tenth cancelled, a tenth ended by the network, a tenth revoked, the rest
/// completed; every 25th booked outside visiting hours. Written in one transaction, a statement
/// per table, before the server starts.
pub async fn add_history(path: &Path, visits: i64) {
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let (admin_id,): (String,) = sqlx::query_as("SELECT id FROM staff LIMIT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let step = 365 * 86_400 / visits.max(1);
    let mut tx = conn.begin().await.unwrap();
    // Numbered patients with their room, ward and first relative.
    sqlx::query(
        "CREATE TEMP TABLE numbered AS
         SELECT ROW_NUMBER() OVER (ORDER BY p.id) - 1 AS k, p.id AS patient_id, p.ward_id,
                r.id AS room_id,
                (SELECT rel.id FROM relatives rel WHERE rel.patient_id = p.id ORDER BY rel.id
                 LIMIT 1) AS relative_id,
                (SELECT rel.display_name FROM relatives rel WHERE rel.patient_id = p.id
                 ORDER BY rel.id LIMIT 1) AS relative_name
         FROM patients p JOIN rooms r ON r.patient_id = p.id",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("CREATE INDEX numbered_k ON numbered (k)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (patients,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM numbered")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let series = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1)";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{series} INSERT INTO visits (id, patient_id, ward_id, room_id, starts_at, ends_at,
                                     override_reason, created_at, created_by, cancelled_at,
                                     outcome)
         SELECT printf('H%021d', i), m.patient_id, m.ward_id, m.room_id,
                $2 - 7200 - i * $3, $2 - 5400 - i * $3,
                CASE WHEN i % 25 = 0 THEN 'clinical' END, $2 - 86400 - i * $3, $4,
                CASE WHEN i % 10 = 1 THEN $2 - 86400 - i * $3 END,
                CASE i % 10 WHEN 0 THEN 'missed' WHEN 1 THEN 'cancelled' WHEN 2 THEN 'network'
                            WHEN 3 THEN 'revoked' ELSE 'completed' END
         FROM n JOIN numbered m ON m.k = i % $5"
    )))
    .bind(visits)
    .bind(now)
    .bind(step)
    .bind(&admin_id)
    .bind(patients)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{series} INSERT INTO invites (id, room_id, relative_name, relationship, lang, token_hash,
                                      code_hash, created_at, created_by, expires_at, visit_id,
                                      relative_id)
         SELECT printf('J%021d', i), m.room_id, m.relative_name, 'familiar', 'es',
                'history-' || i, 'none', $2 - 86400 - i * $3, $4, $2 - 5400 - i * $3,
                printf('H%021d', i), m.relative_id
         FROM n JOIN numbered m ON m.k = i % $5 WHERE m.relative_id IS NOT NULL"
    )))
    .bind(visits)
    .bind(now)
    .bind(step)
    .bind(&admin_id)
    .bind(patients)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{series} INSERT INTO visit_log (room_id, patient_id, role, display_name, invite_id,
                                        joined_at, left_at, end_reason, scheduled_visit_id,
                                        rejoins)
         SELECT m.room_id, m.patient_id, 'relative', m.relative_name, printf('J%021d', i),
                $2 - 7140 - i * $3, $2 - 5460 - i * $3,
                CASE i % 10 WHEN 2 THEN 'connection-lost' WHEN 3 THEN 'revoked'
                            ELSE 'hangup' END,
                printf('H%021d', i), CASE WHEN i % 10 = 2 THEN 1 ELSE 0 END
         FROM n JOIN numbered m ON m.k = i % $5
         WHERE m.relative_id IS NOT NULL AND i % 10 NOT IN (0, 1)"
    )))
    .bind(visits)
    .bind(now)
    .bind(step)
    .bind(&admin_id)
    .bind(patients)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}
