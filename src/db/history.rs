//! The visit log by visit, for administrators and nurses: how each visit turned out (settled once
//! it is over), the filtered list paged by keyset (as fast on the last page of a million visits
//! as on the first), what a visit's detail and the export add to each row, and the call-quality
//! summaries the call pages send.

use futures_util::TryStreamExt;
use sqlx::{FromRow, QueryBuilder};

use super::Handle;

use crate::domain::VisitOutcome;

/// True when some visit is over and not settled yet (a read, so that pages can ask cheaply).
pub async fn unsettled_exist(db: impl Into<Handle<'_>>, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, |db| {
        let found: Option<(i64,)> = sqlx::query_as(UNSETTLED_EXIST)
            .bind(now)
            .fetch_optional(&mut *db)
            .await?;
        Ok(found.is_some())
    })
}

const UNSETTLED_EXIST: &str = "SELECT starts_at FROM visits
     WHERE outcome IS NULL AND COALESCE(ended_at, ends_at) <= $1
       AND NOT EXISTS (SELECT 1 FROM visit_log l
                       WHERE l.scheduled_visit_id = visits.id AND l.role = 'relative'
                         AND l.left_at IS NULL)
     LIMIT 1";

/// Settles the outcome of every visit that is over (its end passed and no relative is left in
/// its call: the bedside tablet may stay on); how many it settled. A cancelled visit is settled when it is cancelled. See the
/// migration for the order the outcomes are tried in.
pub async fn settle_outcomes(db: impl Into<Handle<'_>>, now: i64) -> sqlx::Result<u64> {
    crate::on_db!(db, |db| {
        let done = sqlx::query(
            "UPDATE visits SET outcome = CASE
                 WHEN cancelled_at IS NOT NULL THEN 'cancelled'
                 WHEN EXISTS (SELECT 1 FROM visit_log l
                              WHERE l.scheduled_visit_id = visits.id AND l.end_reason = 'revoked'
                                AND (visits.ended_at IS NULL OR l.left_at < visits.ended_at))
                   OR EXISTS (SELECT 1 FROM invites i
                              WHERE i.visit_id = visits.id AND i.revoked_at IS NOT NULL
                                AND i.revoked_at < COALESCE(visits.ended_at, visits.ends_at))
                   THEN 'revoked'
                 WHEN NOT EXISTS (SELECT 1 FROM visit_log l
                                  WHERE l.scheduled_visit_id = visits.id AND l.role = 'relative')
                   THEN 'missed'
                 WHEN EXISTS (SELECT 1 FROM visit_log l
                              WHERE l.scheduled_visit_id = visits.id AND l.end_reason = 'connection-lost')
                   THEN 'network'
                 ELSE 'completed' END
             WHERE outcome IS NULL AND COALESCE(ended_at, ends_at) <= $1
               AND NOT EXISTS (SELECT 1 FROM visit_log l
                               WHERE l.scheduled_visit_id = visits.id AND l.role = 'relative'
                             AND l.left_at IS NULL)",
        )
        .bind(now)
        .execute(&mut *db)
        .await?;
        Ok(done.rows_affected())
    })
}

/// Which visits the log lists. Every field narrows; the default lists every visit that has
/// started.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// The wards the reader may see (`None`: all, an administrator).
    pub readable_wards: Option<Vec<String>>,
    pub ward_id: Option<String>,
    /// Started at or after (Unix seconds).
    pub from: Option<i64>,
    /// Started before.
    pub until: Option<i64>,
    /// Part of the patient's name.
    pub patient: Option<String>,
    /// Part of an invited relative's name.
    pub relative: Option<String>,
    /// Scheduled, or let a relative in, by this staff member.
    pub staff_id: Option<String>,
    pub outcome: Option<VisitOutcome>,
    /// Only visits booked outside visiting hours.
    pub override_used: bool,
    /// Visits starting after this have not happened yet: not in the log.
    pub now: i64,
}

/// Where a page of the log starts: a visit's start and id (newest first, ties by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub starts_at: i64,
    pub id: String,
}

impl Cursor {
    /// As written in a link: `1764500000.3f2a…`.
    pub fn to_param(&self) -> String {
        format!("{}.{}", self.starts_at, self.id)
    }

    /// Reads a link's cursor; `None` for anything malformed.
    pub fn from_param(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('.')?;
        let starts_at = at.parse().ok()?;
        let valid =
            !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric());
        valid.then(|| Cursor {
            starts_at,
            id: id.to_string(),
        })
    }
}

/// Which way a page goes from its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The newest visits.
    Newest,
    /// Visits older than the cursor.
    Older(Cursor),
    /// Visits newer than the cursor.
    Newer(Cursor),
    /// The oldest visits.
    Oldest,
}

/// One visit of the log, with what its stays add up to.
#[derive(Debug, Clone, FromRow)]
pub struct LoggedVisit {
    pub id: String,
    pub ward: String,
    pub patient_name: String,
    pub bed: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub ended_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub outcome: Option<VisitOutcome>,
    pub override_reason: Option<String>,
    pub override_note: Option<String>,
    pub created_by_name: String,
    /// The first join.
    #[sqlx(default)]
    pub first_join: Option<i64>,
    /// The last leave.
    #[sqlx(default)]
    pub last_leave: Option<i64>,
    /// Stays still open.
    #[sqlx(default)]
    pub open_stays: i64,
    #[sqlx(default)]
    pub rejoins: i64,
    /// The invited relatives' names in invite order, joined by ", " (filled by a page).
    #[sqlx(default)]
    pub relatives: Option<String>,
}

impl LoggedVisit {
    /// When the call actually began and ended (`None` while someone is still in it).
    pub fn actual(&self) -> (Option<i64>, Option<i64>) {
        let end = if self.open_stays > 0 {
            None
        } else {
            self.last_leave
        };
        (self.first_join, end)
    }

    /// The cursor that continues after this visit.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            starts_at: self.starts_at,
            id: self.id.clone(),
        }
    }
}

/// The columns of a [`LoggedVisit`] (what its stays add up to comes after, [`add_stays`]).
const LOGGED_VISIT: &str =
    "SELECT v.id, w.name AS ward, p.display_name AS patient_name, p.bed, v.starts_at,
            v.ends_at, v.ended_at, v.cancelled_at, v.cancel_reason, v.outcome,
            v.override_reason, v.override_note, s.display_name AS created_by_name";

/// A visit's stays summed: first join, last leave, stays open, rejoins.
type StaysSum = (Option<i64>, Option<i64>, i64, i64);

/// Adds to each visit what its stays add up to: one grouped read for the whole page.
async fn add_stays(db: impl Into<Handle<'_>>, visits: &mut [LoggedVisit]) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        if visits.is_empty() {
            return Ok(());
        }
        let mut query = QueryBuilder::new(
            "SELECT scheduled_visit_id, MIN(joined_at), MAX(left_at),
                    CAST(SUM(CASE WHEN left_at IS NULL THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(SUM(rejoins) AS BIGINT)
             FROM visit_log WHERE scheduled_visit_id IN (",
        );
        let mut list = query.separated(", ");
        for visit in visits.iter() {
            list.push_bind(visit.id.clone());
        }
        list.push_unseparated(") GROUP BY scheduled_visit_id");
        let rows: Vec<(String, StaysSum)> = query
            .build_query_as::<(String, Option<i64>, Option<i64>, i64, i64)>()
            .fetch_all(&mut *db)
            .await?
            .into_iter()
            .map(|(id, first, last, open, rejoins)| (id, (first, last, open, rejoins)))
            .collect();
        let by_id: std::collections::HashMap<String, StaysSum> = rows.into_iter().collect();
        for visit in visits.iter_mut() {
            if let Some((first, last, open, rejoins)) = by_id.get(&visit.id) {
                visit.first_join = *first;
                visit.last_leave = *last;
                visit.open_stays = *open;
                visit.rejoins = *rejoins;
            }
        }
        Ok(())
    })
}

/// Adds to each visit its invited relatives' names: one read for the whole page, sorted once
/// (a subquery per visit, with its own sort, took three times as long).
async fn add_relatives(db: impl Into<Handle<'_>>, visits: &mut [LoggedVisit]) -> sqlx::Result<()> {
    let ids: Vec<String> = visits.iter().map(|v| v.id.clone()).collect();
    let mut by_visit: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for (visit, name) in relatives_of(db, &ids).await? {
        by_visit.entry(visit).or_default().push(name);
    }
    for visit in visits.iter_mut() {
        visit.relatives = by_visit.get(&visit.id).map(|names| names.join(", "));
    }
    Ok(())
}

/// What a [`LoggedVisit`] is read from, up to its conditions ([`push_filters`]).
const FROM_VISITS: &str = "
         FROM visits v
         JOIN wards w ON w.id = v.ward_id
         JOIN patients p ON p.id = v.patient_id
         JOIN staff s ON s.id = v.created_by
         WHERE";

/// Up to this many patients matching a name, a page reads each one's visits by the patient's
/// index; past it, it reads visits by time and keeps those of a matching patient.
const PATIENT_BRANCHES: usize = 32;

/// Up to this many relatives matching a name, a page reads their invites' visits; past it, it
/// reads visits by time and keeps those with an invite of a matching relative.
const RELATIVE_LIST: usize = 32;

/// Whose names a filter looks up first.
#[derive(Debug, Clone, Copy)]
enum Named {
    Patients,
    Relatives,
}

/// The ids of up to `most + 1` patients or relatives whose name contains `name` (one more than
/// `most` tells "many").
async fn named(
    db: impl Into<Handle<'_>>,
    whose: Named,
    name: &str,
    most: usize,
) -> sqlx::Result<Vec<String>> {
    let sql = match whose {
        Named::Patients => {
            "SELECT id FROM patients WHERE lower(display_name) LIKE lower($1) ESCAPE '\\' LIMIT $2"
        }
        Named::Relatives => {
            "SELECT id FROM relatives WHERE lower(display_name) LIKE lower($1) ESCAPE '\\' LIMIT $2"
        }
    };
    crate::on_db!(db, |db| {
        sqlx::query_scalar(sql)
            .bind(contains_pattern(name))
            .bind(i64::try_from(most + 1).unwrap_or(i64::MAX))
            .fetch_all(&mut *db)
            .await
    })
}

/// One part of a page's query, read by its own index: the page is the newest (or oldest) of
/// all parts' visits. A reader of some wards reads each ward's visits by the ward's index:
/// with `ward_id IN (..)` SQLite sorted every visit of those wards for each page (100 ms over
/// a million visits; one part per ward takes 0.4 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Branch<'a> {
    /// Every visit the other conditions let through, by the start's index.
    All,
    /// One ward's visits.
    Ward(&'a str),
    /// One patient's visits.
    Patient(&'a str),
}

/// `limit` visits of the log matching `filter` from `page`, newest first, and whether there are
/// more in the direction the page went (`limit + 1` were found).
pub async fn page(
    db: impl Into<Handle<'_>>,
    filter: &LogFilter,
    page: &Page,
    limit: i64,
) -> sqlx::Result<(Vec<LoggedVisit>, bool)> {
    crate::on_db!(db, |db| {
        let engine = super::engine_of(&*db);
        let patients = match &filter.patient {
            Some(name) => Some(named(&mut *db, Named::Patients, name, PATIENT_BRANCHES).await?),
            None => None,
        };
        let relatives = match &filter.relative {
            Some(name) => Some(named(&mut *db, Named::Relatives, name, RELATIVE_LIST).await?),
            None => None,
        };
        if relatives.as_ref().is_some_and(Vec::is_empty) {
            // Nobody of that name: no visit to look for.
            return Ok((Vec::new(), false));
        }
        let few_relatives = relatives
            .as_deref()
            .filter(|ids| ids.len() <= RELATIVE_LIST);
        let few_patients = patients
            .as_ref()
            .filter(|ids| ids.len() <= PATIENT_BRANCHES);
        let branches: Vec<Branch> = match (few_patients, &filter.ward_id, &filter.readable_wards) {
            (Some(ids), _, _) => ids.iter().map(|id| Branch::Patient(id)).collect(),
            (None, Some(ward), _) => vec![Branch::Ward(ward)],
            (None, None, Some(wards)) => wards.iter().map(|w| Branch::Ward(w)).collect(),
            (None, None, None) => vec![Branch::All],
        };
        if branches.is_empty() {
            // No patient of that name, or a reader of no ward.
            return Ok((Vec::new(), false));
        }
        let cursor = match page {
            Page::Older(c) => (Some(c.starts_at), None),
            Page::Newer(c) => (None, Some(c.starts_at)),
            Page::Newest | Page::Oldest => (None, None),
        };
        let ascending = matches!(page, Page::Newer(_) | Page::Oldest);
        let order = if ascending {
            "starts_at, id"
        } else {
            "starts_at DESC, id DESC"
        };
        let mut query = QueryBuilder::new(LOGGED_VISIT);
        query.push(" FROM (");
        for (i, branch) in branches.iter().enumerate() {
            if i > 0 {
                query.push(" UNION ALL ");
            }
            query.push("SELECT * FROM (SELECT v.* FROM visits v");
            // Without statistics, SQLite's planner took the outcome's index over the ward's and
            // outcome's for a month of one ward's outcome (and read every ward's visits).
            if engine == super::Engine::Sqlite
                && matches!(branch, Branch::Ward(_))
                && filter.outcome.is_some()
            {
                query.push(" INDEXED BY visits_ward_outcome_time");
            }
            query.push(" WHERE");
            push_filters(&mut query, filter, cursor, *branch, few_relatives);
            // Past the cursor: before it going older, after it going newer (ties by id).
            let past = match page {
                Page::Older(c) => Some((c, "<")),
                Page::Newer(c) => Some((c, ">")),
                Page::Newest | Page::Oldest => None,
            };
            if let Some((c, beyond)) = past {
                query.push(format!(" AND (v.starts_at {beyond} "));
                query.push_bind(c.starts_at);
                query.push(" OR (v.starts_at = ");
                query.push_bind(c.starts_at);
                query.push(format!(" AND v.id {beyond} "));
                query.push_bind(c.id.clone());
                query.push("))");
            }
            query.push(if ascending {
                " ORDER BY v.starts_at, v.id LIMIT "
            } else {
                " ORDER BY v.starts_at DESC, v.id DESC LIMIT "
            });
            // The limit is written, not bound: SQLite compiles a statement again whenever a bound
            // LIMIT is bound anew (it plans by its value), and that was 8% of a page's time.
            query.push((limit + 1).to_string());
            query.push(format!(") AS b{i}"));
        }
        if branches.len() > 1 {
            query.push(format!(" ORDER BY {order} LIMIT {}", limit + 1));
        }
        query.push(
            ") v JOIN wards w ON w.id = v.ward_id JOIN patients p ON p.id = v.patient_id
             JOIN staff s ON s.id = v.created_by ORDER BY ",
        );
        query.push(if ascending {
            "v.starts_at, v.id"
        } else {
            "v.starts_at DESC, v.id DESC"
        });
        let mut rows: Vec<LoggedVisit> = query.build_query_as().fetch_all(&mut *db).await?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        if ascending {
            rows.reverse();
        }
        add_stays(&mut *db, &mut rows).await?;
        add_relatives(&mut *db, &mut rows).await?;
        Ok((rows, more))
    })
}

/// The conditions on a visit (`v`) that the filters set, each only when it is set (the planner
/// then uses the index that fits: a ward's visits by time, an outcome's by time, one person's
/// by time), and `branch`'s, for a query whose `WHERE` comes just before.
///
/// The start gets one upper bound and at most one lower: the tightest of `now`, the filter's
/// dates and the page's cursor (`cursor`: a start the page stays at or before, or at or after).
/// Given two bounds on one side, SQLite's planner (which has no statistics here) took the index
/// of the start alone over the ward's, and a month of one ward's visits read every ward's.
fn push_filters<DB: sqlx::Database>(
    query: &mut QueryBuilder<DB>,
    filter: &LogFilter,
    cursor: (Option<i64>, Option<i64>),
    branch: Branch,
    relatives: Option<&[String]>,
) where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let (at_most, at_least) = cursor;
    let upper = [
        Some(filter.now),
        filter.until.map(|u| u.saturating_sub(1)),
        at_most,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(filter.now);
    query.push(" v.starts_at <= ");
    query.push_bind(upper);
    if let Some(lower) = filter.from.into_iter().chain(at_least).max() {
        query.push(" AND v.starts_at >= ");
        query.push_bind(lower);
    }
    match branch {
        Branch::Ward(ward) => {
            query.push(" AND v.ward_id = ");
            query.push_bind(ward.to_string());
        }
        Branch::Patient(patient) => {
            query.push(" AND v.patient_id = ");
            query.push_bind(patient.to_string());
        }
        Branch::All => {}
    }
    // A ward's part reads one of the reader's wards (the chosen one, when chosen).
    if !matches!(branch, Branch::Ward(_)) {
        if let Some(wards) = &filter.readable_wards {
            if wards.is_empty() {
                query.push(" AND 1 = 0");
            } else {
                query.push(" AND v.ward_id IN (");
                let mut list = query.separated(", ");
                for ward in wards {
                    list.push_bind(ward.clone());
                }
                list.push_unseparated(")");
            }
        }
        if let Some(ward) = &filter.ward_id {
            query.push(" AND v.ward_id = ");
            query.push_bind(ward.clone());
        }
    }
    if let Some(outcome) = filter.outcome {
        query.push(" AND v.outcome = ");
        query.push_bind(outcome.as_str().to_string());
    }
    if filter.override_used {
        query.push(" AND v.override_reason IS NOT NULL");
    }
    // A patient's part reads a patient of that name.
    if let Some(name) = filter
        .patient
        .as_ref()
        .filter(|_| !matches!(branch, Branch::Patient(_)))
    {
        query.push(
            " AND v.patient_id IN (SELECT id FROM patients
                                   WHERE lower(display_name) LIKE lower(",
        );
        query.push_bind(contains_pattern(name));
        query.push(") ESCAPE '\\')");
    }
    // A few relatives of that name: their invites' visits (a visit read by its id, then
    // sorted); many: visits read by time, each checked for one.
    match relatives {
        Some(ids) => {
            query.push(
                " AND v.id IN (SELECT i.visit_id FROM invites i WHERE i.visit_id IS NOT NULL
                                 AND i.relative_id IN (",
            );
            let mut list = query.separated(", ");
            for id in ids {
                list.push_bind(id.clone());
            }
            list.push_unseparated("))");
        }
        None => {
            if let Some(name) = &filter.relative {
                query.push(
                    " AND EXISTS (SELECT 1 FROM invites i JOIN relatives r ON r.id = i.relative_id
                                  WHERE i.visit_id = v.id AND lower(r.display_name) LIKE lower(",
                );
                query.push_bind(contains_pattern(name));
                query.push(") ESCAPE '\\')");
            }
        }
    }
    // Written as a list rather than EXISTS, SQLite reads both by index (its multi-index OR).
    if let Some(staff) = &filter.staff_id {
        query.push(" AND (v.created_by = ");
        query.push_bind(staff.clone());
        query.push(" OR v.id IN (SELECT a.visit_id FROM admissions a WHERE a.admitted_by = ");
        query.push_bind(staff.clone());
        query.push("))");
    }
}

/// A LIKE pattern matching names that contain `text` (`%`, `_` and `\` taken literally), compared
/// in lower case. SQLite's `lower` knows ASCII letters only: there "ana" finds "Ana", "ángela" does
/// not find "Ángela" (PostgreSQL's finds both).
fn contains_pattern(text: &str) -> String {
    let escaped: String = text
        .trim()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The invited relatives of some visits: (visit id, name), in invite order.
pub async fn relatives_of(
    db: impl Into<Handle<'_>>,
    visit_ids: &[String],
) -> sqlx::Result<Vec<(String, String)>> {
    crate::on_db!(db, |db| {
        if visit_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new(
            "SELECT i.visit_id, r.display_name FROM invites i JOIN relatives r ON r.id = i.relative_id
             WHERE i.visit_id IN (",
        );
        let mut list = query.separated(", ");
        for id in visit_ids {
            list.push_bind(id.clone());
        }
        list.push_unseparated(") ORDER BY i.created_at, i.id");
        query.build_query_as().fetch_all(&mut *db).await
    })
}

/// Who let relatives into some visits: (visit id, staff name when a nurse did, how).
pub async fn admissions_of(
    db: impl Into<Handle<'_>>,
    visit_ids: &[String],
) -> sqlx::Result<Vec<(String, Option<String>, String)>> {
    crate::on_db!(db, |db| {
        if visit_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new(
            "SELECT a.visit_id, s.display_name, a.how FROM admissions a
             LEFT JOIN staff s ON s.id = a.admitted_by WHERE a.visit_id IN (",
        );
        let mut list = query.separated(", ");
        for id in visit_ids {
            list.push_bind(id.clone());
        }
        list.push_unseparated(") ORDER BY a.admitted_at");
        query.build_query_as().fetch_all(&mut *db).await
    })
}

/// One visit of the log by id, if the reader may see its ward.
pub async fn find(
    db: impl Into<Handle<'_>>,
    id: &str,
    readable_wards: Option<&[String]>,
) -> sqlx::Result<Option<(LoggedVisit, String)>> {
    crate::on_db!(db, |db| {
        let filter = LogFilter {
            readable_wards: readable_wards.map(<[String]>::to_vec),
            now: i64::MAX,
            ..LogFilter::default()
        };
        let mut query = QueryBuilder::new(LOGGED_VISIT);
        query.push(", v.ward_id");
        query.push(FROM_VISITS);
        push_filters(&mut query, &filter, (None, None), Branch::All, None);
        query.push(" AND v.id = ");
        query.push_bind(id.to_string());
        #[derive(FromRow)]
        struct Found {
            #[sqlx(flatten)]
            visit: LoggedVisit,
            ward_id: String,
        }
        let found: Option<Found> = query.build_query_as().fetch_optional(&mut *db).await?;
        let Some(Found { visit, ward_id }) = found else {
            return Ok(None);
        };
        let mut visits = [visit];
        add_stays(&mut *db, &mut visits).await?;
        let [visit] = visits;
        Ok(Some((visit, ward_id)))
    })
}

/// What a call page reports about its call so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quality {
    pub sent_kbps: i64,
    pub received_kbps: i64,
    pub loss_permille: i64,
    pub audio_only_secs: i64,
}

/// Stores a stay's latest call-quality summary (each summary covers the whole stay so far).
pub async fn record_quality(
    db: impl Into<Handle<'_>>,
    stay_id: i64,
    quality: Quality,
) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query(
            "UPDATE visit_log SET sent_kbps = $2, received_kbps = $3, loss_permille = $4,
                                  audio_only_secs = $5
             WHERE id = $1",
        )
        .bind(stay_id)
        .bind(quality.sent_kbps)
        .bind(quality.received_kbps)
        .bind(quality.loss_permille)
        .bind(quality.audio_only_secs)
        .execute(&mut *db)
        .await?;
        Ok(())
    })
}

/// One visit as the statistics count it.
#[derive(Debug, Clone, FromRow)]
pub struct Counted {
    pub ward: String,
    pub starts_at: i64,
    pub outcome: Option<VisitOutcome>,
    /// Seconds from the first join to the last leave, when relatives came and it is over.
    pub length_secs: Option<i64>,
    /// Someone's page came back after a lost connection, or a stay ended with it lost.
    pub network_trouble: bool,
}

/// Streams the settled visits started in [from, until) in the readable wards into `each`
/// (a year of visits holds no more memory than one).
pub async fn for_each_counted(
    db: impl Into<Handle<'_>>,
    readable_wards: Option<&[String]>,
    from: i64,
    until: i64,
    mut each: impl FnMut(Counted),
) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        let filter = LogFilter {
            readable_wards: readable_wards.map(<[String]>::to_vec),
            from: Some(from),
            until: Some(until),
            now: i64::MAX,
            ..LogFilter::default()
        };
        let mut query = QueryBuilder::new(
            "SELECT w.name AS ward, v.starts_at, v.outcome,
                    (SELECT MAX(l.left_at) - MIN(l.joined_at) FROM visit_log l
                     WHERE l.scheduled_visit_id = v.id) AS length_secs,
                    EXISTS (SELECT 1 FROM visit_log l WHERE l.scheduled_visit_id = v.id
                              AND (l.rejoins > 0 OR l.end_reason = 'connection-lost'))
                        AS network_trouble
             FROM visits v JOIN wards w ON w.id = v.ward_id
             JOIN patients p ON p.id = v.patient_id
             WHERE v.outcome IS NOT NULL AND",
        );
        push_filters(&mut query, &filter, (None, None), Branch::All, None);
        let mut rows = query.build_query_as::<Counted>().fetch(&mut *db);
        while let Some(row) = rows.try_next().await? {
            each(row);
        }
        Ok(())
    })
}

/// What a retention purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub visits: u64,
    pub stays: u64,
    pub invites: u64,
    pub relatives: u64,
}

impl Purged {
    /// Nothing was removed.
    pub fn is_empty(&self) -> bool {
        *self == Purged::default()
    }
}

/// Removes what is older than `cutoff` (Unix seconds): visits settled and over before it, with
/// their stays, invites and admissions; stays outside any visit that ended before it; and the
/// relatives (with their invites) of patients discharged before it. The ids to remove are
/// collected first into temporary tables (each by an index), then removed children first, for
/// the foreign keys: a day's purge of a large hospital holds the write lock briefly.
pub async fn purge(conn: impl Into<Handle<'_>>, cutoff: i64) -> sqlx::Result<Purged> {
    crate::on_db!(conn, |conn| {
        for table in ["purge_visits", "purge_relatives", "purge_invites"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TEMP TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY)"
            )))
            .execute(&mut *conn)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *conn)
                .await?;
        }
        // A visit over before the cutoff started before it: the start's index finds them.
        let steps = [
            "INSERT INTO purge_visits SELECT id FROM visits
             WHERE starts_at < $1 AND outcome IS NOT NULL AND COALESCE(ended_at, ends_at) < $1",
            "INSERT INTO purge_relatives SELECT r.id FROM relatives r
             JOIN patients p ON p.id = r.patient_id WHERE p.discharged_at < $1",
            "INSERT INTO purge_invites SELECT i.id FROM invites i
             WHERE i.visit_id IN (SELECT id FROM purge_visits) ON CONFLICT DO NOTHING",
            "INSERT INTO purge_invites SELECT i.id FROM invites i
             WHERE i.relative_id IN (SELECT id FROM purge_relatives) ON CONFLICT DO NOTHING",
            "INSERT INTO purge_invites SELECT id FROM invites
             WHERE visit_id IS NULL AND expires_at < $1 ON CONFLICT DO NOTHING",
            "DELETE FROM admissions WHERE visit_id IN (SELECT id FROM purge_visits)",
            "DELETE FROM admissions WHERE invite_id IN (SELECT id FROM purge_invites)",
        ];
        // PostgreSQL refuses a parameter its statement does not use.
        let bound = |step: &'static str| {
            let query = sqlx::query(step);
            if step.contains("$1") {
                query.bind(cutoff)
            } else {
                query
            }
        };
        for step in steps {
            bound(step).execute(&mut *conn).await?;
        }
        let mut stays = 0;
        for step in [
            "DELETE FROM visit_log WHERE scheduled_visit_id IN (SELECT id FROM purge_visits)",
            "DELETE FROM visit_log WHERE invite_id IN (SELECT id FROM purge_invites)",
            "DELETE FROM visit_log WHERE scheduled_visit_id IS NULL AND left_at < $1",
        ] {
            stays += bound(step).execute(&mut *conn).await?.rows_affected();
        }
        let mut removed = [0; 3];
        for (count, sql) in removed.iter_mut().zip([
            "DELETE FROM invites WHERE id IN (SELECT id FROM purge_invites)",
            "DELETE FROM visits WHERE id IN (SELECT id FROM purge_visits)",
            "DELETE FROM relatives WHERE id IN (SELECT id FROM purge_relatives)",
        ]) {
            *count = sqlx::query(sql).execute(&mut *conn).await?.rows_affected();
        }
        let [invites, visits, relatives] = removed;
        Ok(Purged {
            visits,
            stays,
            invites,
            relatives,
        })
    })
}
