//! Bedside devices: a tablet asking for a pairing code, a nurse pairing it to a patient's bed,
//! unpairing (by a nurse, on discharge or transfer, or when unseen too long), and the patient's
//! bedside settings.

use crate::{
    auth::secret::ServerSecret,
    db::{self, devices::Device},
    domain::{
        AccessCode, AuditAction, BedsideAnswer, RandomId, StaffMember, UnpairReason, random_token,
        sha256_hex,
    },
    error::AppError,
    state::AppState,
};

/// How long a pairing code works.
pub const PAIRING_SECS: i64 = 10 * 60;
/// Wrong codes one nurse may type in [`PAIRING_SECS`] before being held back.
pub const MAX_PAIRING_FAILURES: i64 = 5;
/// Pending codes one client address may hold (a ward's tablets behind one NAT fit).
pub const MAX_CODES_PER_ADDRESS: i64 = 20;
/// Pending codes in all: with six digits, a stranger holding many codes could catch a mistyped
/// one; this keeps that chance under 1 in 2,000 per mistake.
pub const MAX_PENDING_CODES: i64 = 500;

const PAIRING_CODE: &str = "visitas pairing code v1";

/// The keyed hash a pairing code is stored and looked up by.
fn pairing_hash(secret: &ServerSecret, code: &AccessCode) -> String {
    secret.sign(PAIRING_CODE, code.as_str().as_bytes())
}

/// A code for a tablet to show, and, for a tablet that had no credential, the new one (for its
/// cookie: stored here only as its hash).
#[derive(Debug)]
pub struct PairingCode {
    pub credential: Option<String>,
    pub code: AccessCode,
    pub expires_at: i64,
}

/// Gives an unpaired tablet a fresh pairing code, creating the device first when it has no
/// credential. Codes of other tablets that expired are cleared as a side effect. 429 when the
/// address (or everyone) holds too many pending codes.
pub async fn start_pairing(
    state: &AppState,
    device: Option<&Device>,
    client: &str,
) -> Result<PairingCode, AppError> {
    let now = db::now();
    // Counted inside the checked write that adds the code: parallel requests line up behind it.
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let (all, mine) =
        db::devices::pending_codes(&mut tx, client, device.map(|d| d.id.as_str()), now).await?;
    if all >= MAX_PENDING_CODES || mine >= MAX_CODES_PER_ADDRESS {
        tracing::warn!("refused a pairing code: too many pending");
        return Err(AppError::too_many());
    }
    let (device_id, credential) = match device {
        Some(device) => (device.id.clone(), None),
        None => {
            let id = RandomId::new().to_string();
            let token = random_token(32);
            db::devices::create(&mut tx, &id, &sha256_hex(&token), now).await?;
            (id, Some(token))
        }
    };
    let expires_at = now + PAIRING_SECS;
    for _ in 0..8 {
        let code = AccessCode::generate();
        let hash = pairing_hash(&state.secret, &code);
        if db::devices::set_pairing_code(&mut tx, &device_id, &hash, client, now, expires_at)
            .await?
        {
            tx.commit().await?;
            return Ok(PairingCode {
                credential,
                code,
                expires_at,
            });
        }
    }
    Err(AppError::conflict(|t| t.err_too_many))
}

/// What became of a pairing code a nurse typed.
#[derive(Debug, PartialEq, Eq)]
pub enum Paired {
    /// The tablet is this bed's device now (its id).
    Device(String),
    /// No tablet waits with that code (wrong, used or expired).
    WrongCode,
    /// Too many wrong codes lately.
    Throttled,
}

/// Pairs the tablet showing `code` to a patient's bed (opening the patient's room if none is
/// open): it replaces any device the bed had. Wrong codes are counted and audited; the fifth in
/// ten minutes holds the nurse back. The count is read, and a wrong code noted, inside one
/// checked write, so parallel guesses cannot slip past the limit.
pub async fn pair_device(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
    code: &str,
) -> Result<Paired, AppError> {
    let now = db::now();
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let failures = db::devices::failures_since(&mut tx, &by.id, now - PAIRING_SECS).await?;
    if failures >= MAX_PAIRING_FAILURES {
        refuse(&mut tx, by, patient_id, "throttled").await?;
        tx.commit().await?;
        return Ok(Paired::Throttled);
    }
    let paired = match AccessCode::parse(code) {
        Some(code) => {
            let hash = pairing_hash(&state.secret, &code);
            db::devices::pair_by_code(&mut tx, &hash, patient_id, &by.id, now).await?
        }
        None => None,
    };
    let Some(device_id) = paired else {
        db::devices::note_failure(&mut tx, &by.id, now).await?;
        refuse(&mut tx, by, patient_id, "wrong-code").await?;
        tx.commit().await?;
        return Ok(Paired::WrongCode);
    };
    // The bed's room, so the device can stand by for calls at once.
    super::visits::room_for(&mut tx, by, patient_id).await?;
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::DevicePair,
        Some(&device_id),
        Some(patient_id),
    )
    .await?;
    let replaced = unpair_in(
        &mut tx,
        patient_id,
        Some(&device_id),
        Some(by),
        UnpairReason::Replaced,
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    end_devices(state, replaced);
    Ok(Paired::Device(device_id))
}

/// Audits a refused pairing, inside the caller's transaction.
async fn refuse(
    conn: impl Into<crate::db::Handle<'_>>,
    by: &StaffMember,
    patient_id: &str,
    why: &str,
) -> Result<(), AppError> {
    db::audit::record_detail(
        conn,
        Some(&by.id),
        AuditAction::DevicePairRefused,
        Some(patient_id),
        Some(why),
    )
    .await?;
    Ok(())
}

/// Unpairs the patient's devices but `keep`, with their audit rows, inside the caller's
/// transaction; the ids, whose sockets the caller ends after the commit ([`end_devices`]).
pub(super) async fn unpair_in(
    conn: impl Into<crate::db::Handle<'_>>,
    patient_id: &str,
    keep: Option<&str>,
    by: Option<&StaffMember>,
    reason: UnpairReason,
) -> Result<Vec<String>, AppError> {
    let mut conn = conn.into();
    let by_id = by.map(|s| s.id.as_str());
    let ids = db::devices::unpair_patient(
        &mut conn,
        patient_id,
        keep,
        by_id,
        reason.as_str(),
        db::now(),
    )
    .await?;
    for id in &ids {
        db::audit::record_detail(
            &mut conn,
            by_id,
            AuditAction::DeviceUnpair,
            Some(id),
            Some(reason.as_str()),
        )
        .await?;
    }
    Ok(ids)
}

/// Cuts the sockets of unpaired devices (in a task of its own: it must happen even if the
/// request is dropped).
pub(super) fn end_devices(state: &AppState, ids: Vec<String>) {
    if ids.is_empty() {
        return;
    }
    let signaling = state.signaling.clone();
    tokio::spawn(async move {
        for id in &ids {
            signaling.end_device(id).await;
        }
    });
}

/// A nurse unpairs one of a patient's devices; it returns to its pairing screen within moments,
/// even in a call. 404 when that device is not paired to the patient.
pub async fn unpair_device(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
    device_id: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if !db::devices::unpair(&mut tx, device_id, patient_id, &by.id, db::now()).await? {
        return Err(AppError::not_found());
    }
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::DeviceUnpair,
        Some(device_id),
        Some(UnpairReason::Nurse.as_str()),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    end_devices(state, vec![device_id.to_string()]);
    Ok(())
}

/// Unpairs the devices not seen for `days` days (a tablet lost, or put away); how many.
pub async fn unpair_unseen(state: &AppState, days: u32) -> Result<usize, AppError> {
    let before = db::now() - i64::from(days) * 86_400;
    let mut ended = Vec::new();
    for device_id in db::devices::unseen_since(&state.db, before).await? {
        let mut tx = state.db.begin().await?;
        // Looked at again in the update: one seen meanwhile stays paired.
        if db::devices::unpair_if_unseen(&mut tx, &device_id, before, db::now()).await? {
            db::audit::record_detail(
                &mut tx,
                None,
                AuditAction::DeviceUnpair,
                Some(&device_id),
                Some(UnpairReason::Unseen.as_str()),
            )
            .await?;
            ended.push(device_id);
        }
        tx.commit().await?;
    }
    // Tablets that asked for a code and were never paired leave no row behind.
    db::devices::prune_unpaired(&state.db, db::now() - 86_400).await?;
    let count = ended.len();
    end_devices(state, ended);
    Ok(count)
}

/// Sets how a patient's bedside answers and whether it starts with the camera off.
pub async fn set_bedside_settings(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
    answer: BedsideAnswer,
    camera_off_at_start: bool,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if !db::patients::set_bedside(&mut tx, patient_id, answer.as_str(), camera_off_at_start).await?
    {
        return Err(AppError::conflict(|t| t.err_patient_discharged));
    }
    let detail = format!(
        "answer={} camera_off={}",
        answer.as_str(),
        camera_off_at_start
    );
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::PatientBedsideSettings,
        Some(patient_id),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
