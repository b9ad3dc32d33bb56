//! Languages and the typed text catalog.
//!
//! Every string a person reads lives in [`Text`]; each language is one `const` value of it, so a
//! missing translation is a compile error rather than a blank on a relative's phone. The language
//! of a request comes from the `visitas-lang` cookie (set by the switch in the page header), then
//! `Accept-Language`, then the configured default.

use axum::http::{HeaderMap, header};
use chrono::{Datelike, Timelike};

/// The languages Visitas speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Spanish.
    Es,
    /// English.
    En,
}

/// Name of the cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "visitas-lang";

impl Lang {
    /// Every supported language.
    pub const ALL: [Lang; 2] = [Lang::Es, Lang::En];

    /// The ISO 639-1 code used in `lang=""` attributes, cookies and forms.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// Parses an ISO code, ignoring a region suffix (`es-ES`, `en_GB`).
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Lang::Es),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The text catalog of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Es => &ES,
            Lang::En => &EN,
        }
    }

    /// The language a request asks for: cookie first, then `Accept-Language`, then `default`.
    pub fn negotiate(headers: &HeaderMap, default: Lang) -> Lang {
        if let Some(lang) = cookie_value(headers, LANG_COOKIE).and_then(|v| Lang::from_code(&v)) {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(default)
    }
}

/// Picks the supported language with the highest quality from an `Accept-Language` value.
fn from_accept_language(value: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for part in value.split(',') {
        let mut pieces = part.split(';');
        let Some(lang) = pieces.next().and_then(Lang::from_code) else {
            continue;
        };
        let quality = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// Reads one cookie from the request headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Replaces `{n}` in a catalog string with a number.
pub fn with_number(text: &str, n: impl std::fmt::Display) -> String {
    text.replace("{n}", &n.to_string())
}

/// How a language writes a date and time: 24/11/2026 09:30 or 2026-11-24 09:30.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    DayMonthYear,
    YearMonthDay,
}

impl DateFormat {
    /// `time` written this way. By hand rather than through strftime: a list page writes one per
    /// row, and chrono parses the pattern and formats the offset every time.
    pub fn write<T: Datelike + Timelike>(self, time: &T) -> String {
        let (y, mo, d, h, mi) = (
            time.year(),
            time.month(),
            time.day(),
            time.hour(),
            time.minute(),
        );
        match self {
            DateFormat::DayMonthYear => format!("{d:02}/{mo:02}/{y:04} {h:02}:{mi:02}"),
            DateFormat::YearMonthDay => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}"),
        }
    }
}

/// Every string shown to a person, in one language.
#[derive(Debug)]
pub struct Text {
    pub lang_code: &'static str,
    pub other_lang_code: &'static str,
    pub other_lang_name: &'static str,
    pub switch_language: &'static str,
    pub app_name: &'static str,
    pub tagline: &'static str,
    pub nav_rooms: &'static str,
    pub nav_patients: &'static str,
    pub nav_staff: &'static str,
    pub logout: &'static str,
    pub signed_in_as: &'static str,
    pub date_format: DateFormat,

    pub login_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub password_confirm: &'static str,
    pub display_name: &'static str,
    pub login_button: &'static str,
    pub login_failed: &'static str,
    pub login_throttled: &'static str,

    pub setup_title: &'static str,
    pub setup_intro: &'static str,
    pub setup_button: &'static str,
    pub setup_invalid: &'static str,

    pub err_required: &'static str,
    pub err_too_long: &'static str,
    pub err_control_chars: &'static str,
    pub err_invisible_chars: &'static str,
    pub err_password_short: &'static str,
    pub err_password_long: &'static str,
    pub err_password_common: &'static str,
    pub err_password_mismatch: &'static str,
    pub err_password_username: &'static str,
    pub err_username_invalid: &'static str,
    pub err_username_taken: &'static str,
    pub err_record_taken: &'static str,
    pub err_patient_discharged: &'static str,
    pub form_has_errors: &'static str,

    pub staff_title: &'static str,
    pub staff_new: &'static str,
    pub staff_create_button: &'static str,
    pub role: &'static str,
    pub role_admin: &'static str,
    pub role_nurse: &'static str,
    pub status: &'static str,
    pub active: &'static str,
    pub inactive: &'static str,
    pub deactivate_button: &'static str,
    pub err_self_deactivate: &'static str,
    pub ca_title: &'static str,
    pub ca_help: &'static str,
    pub ca_download: &'static str,
    pub ca_not_generated: &'static str,

    pub patients_title: &'static str,
    pub patient_new: &'static str,
    pub patient_name: &'static str,
    pub ward: &'static str,
    pub bed: &'static str,
    pub record_number: &'static str,
    pub optional: &'static str,
    pub search: &'static str,
    pub search_placeholder: &'static str,
    pub register_button: &'static str,
    pub no_patients: &'static str,
    pub admitted: &'static str,
    pub discharged: &'static str,
    pub discharge_button: &'static str,
    pub discharge_help: &'static str,
    pub patient_rooms: &'static str,

    pub rooms_title: &'static str,
    pub room_create_button: &'static str,
    pub created_at: &'static str,
    pub room_open: &'static str,
    pub room_closed: &'static str,
    pub room_close_button: &'static str,
    pub open_room: &'static str,
    pub no_rooms: &'static str,
    pub present_now: &'static str,
    pub nobody: &'static str,
    pub patient: &'static str,
    pub room_title: &'static str,
    pub actions: &'static str,

    pub error_title: &'static str,
    pub err_bad_request: &'static str,
    pub err_forbidden: &'static str,
    pub err_not_found: &'static str,
    pub err_conflict: &'static str,
    pub err_too_large: &'static str,
    pub err_too_many: &'static str,
    pub err_internal: &'static str,
    pub err_disk_full: &'static str,
    pub err_disk_read_only: &'static str,
    pub err_disk_io: &'static str,
    pub err_csrf: &'static str,
    pub back_home: &'static str,
    pub tap_to_hear: &'static str,
    pub nav_visits: &'static str,
    pub invites_title: &'static str,
    pub invite_new: &'static str,
    pub relative_name: &'static str,
    pub relationship: &'static str,
    pub invite_language: &'static str,
    pub invite_create_button: &'static str,
    pub invite_status_active: &'static str,
    pub invite_status_expired: &'static str,
    pub invite_status_revoked: &'static str,
    pub invite_status_locked: &'static str,
    pub invite_status_room_closed: &'static str,
    pub invite_revoke_button: &'static str,
    pub invite_expires: &'static str,
    pub invite_shown_once: &'static str,
    pub print_button: &'static str,
    pub back_to_room: &'static str,
    pub no_invites: &'static str,
    pub open_bedside: &'static str,
    pub join_as_staff: &'static str,
    pub err_room_closed: &'static str,
    pub card_title: &'static str,
    pub card_for: &'static str,
    pub card_intro: &'static str,
    pub card_step_link: &'static str,
    pub card_step_code: &'static str,
    pub card_step_join: &'static str,
    pub card_valid_until: &'static str,
    pub card_keep_private: &'static str,
    pub visit_title: &'static str,
    pub code_prompt: &'static str,
    pub code_label: &'static str,
    pub code_button: &'static str,
    pub code_wrong: &'static str,
    pub code_malformed: &'static str,
    pub invite_invalid: &'static str,
    pub invite_expired: &'static str,
    pub invite_revoked: &'static str,
    pub invite_locked: &'static str,
    pub invite_room_closed: &'static str,
    pub open_link_again: &'static str,
    pub check_title: &'static str,
    pub check_intro: &'static str,
    pub camera: &'static str,
    pub microphone: &'static str,
    pub mic_level_help: &'static str,
    pub join_button: &'static str,
    pub perm_denied: &'static str,
    pub no_camera: &'static str,
    pub no_devices: &'static str,
    pub insecure: &'static str,
    pub retry: &'static str,
    pub call_waiting: &'static str,
    pub call_connecting: &'static str,
    pub call_connected: &'static str,
    pub call_reconnecting: &'static str,
    pub call_ended: &'static str,
    pub mute: &'static str,
    pub unmute: &'static str,
    pub camera_off: &'static str,
    pub camera_on: &'static str,
    pub hang_up: &'static str,
    pub other_left: &'static str,
    pub ended_revoked: &'static str,
    pub ended_room_closed: &'static str,
    pub ended_full: &'static str,
    pub ended_not_allowed: &'static str,
    pub ended_server: &'static str,
    /// The server did not answer the call page's `join`, after a few tries.
    pub ended_no_answer: &'static str,
    /// The join could not be written to the visit log, so the call did not start.
    pub ended_not_recorded: &'static str,
    pub rejoin: &'static str,
    pub role_patient: &'static str,
    pub role_relative: &'static str,
    pub role_staff: &'static str,
    pub visits_title: &'static str,
    pub who: &'static str,
    pub joined: &'static str,
    pub left: &'static str,
    pub duration: &'static str,
    pub end_reason: &'static str,
    pub no_visits: &'static str,
    pub reason_hangup: &'static str,
    pub reason_connection_lost: &'static str,
    pub reason_revoked: &'static str,
    pub reason_room_closed: &'static str,
    pub reason_server: &'static str,
}

/// Spanish.
pub const ES: Text = Text {
    lang_code: "es",
    other_lang_code: "en",
    other_lang_name: "English",
    switch_language: "Cambiar idioma",
    app_name: "Visitas",
    tagline: "Videovisitas del hospital",
    nav_rooms: "Salas",
    nav_patients: "Pacientes",
    nav_staff: "Personal",
    logout: "Cerrar sesión",
    signed_in_as: "Sesión de",
    date_format: DateFormat::DayMonthYear,

    login_title: "Iniciar sesión",
    username: "Usuario",
    password: "Contraseña",
    password_confirm: "Repita la contraseña",
    display_name: "Nombre",
    login_button: "Entrar",
    login_failed: "Usuario o contraseña incorrectos.",
    login_throttled: "Demasiados intentos fallidos. Espere {n} minutos y vuelva a intentarlo.",

    setup_title: "Crear el primer administrador",
    setup_intro: "Este enlace sirve una sola vez y caduca en una hora. Cree la cuenta de administración; después podrá dar de alta al personal de enfermería.",
    setup_button: "Crear administrador",
    setup_invalid: "Este enlace de configuración no es válido, ya se usó o ha caducado. Reinicie el servidor para obtener uno nuevo, o use «visitas admin create».",

    err_required: "Este campo es obligatorio.",
    err_too_long: "Como máximo {n} caracteres.",
    err_control_chars: "No puede contener caracteres de control.",
    err_invisible_chars: "No puede contener caracteres invisibles ni de dirección del texto (como U+202E).",
    err_password_short: "La contraseña debe tener al menos {n} caracteres.",
    err_password_long: "La contraseña es demasiado larga.",
    err_password_common: "Esa contraseña es demasiado común. Elija otra.",
    err_password_mismatch: "Las contraseñas no coinciden.",
    err_password_username: "La contraseña no puede ser el nombre de usuario.",
    err_username_invalid: "Use de 3 a 64 letras, números, puntos, guiones o guiones bajos.",
    err_username_taken: "Ese nombre de usuario ya existe.",
    err_record_taken: "Ya hay un paciente con ese número de historia.",
    err_patient_discharged: "El paciente ha sido dado de alta: no se pueden crear salas nuevas.",
    form_has_errors: "Revise los campos marcados.",

    staff_title: "Personal",
    staff_new: "Nueva cuenta de enfermería",
    staff_create_button: "Crear cuenta",
    role: "Rol",
    role_admin: "Administración",
    role_nurse: "Enfermería",
    status: "Estado",
    active: "Activa",
    inactive: "Desactivada",
    deactivate_button: "Desactivar",
    err_self_deactivate: "No puede desactivar su propia cuenta.",
    ca_title: "Certificado del servidor",
    ca_help: "Instale este certificado de autoridad en las tabletas y ordenadores gestionados del hospital para que el navegador confíe en Visitas sin avisos.",
    ca_download: "Descargar el certificado de autoridad",
    ca_not_generated: "Este servidor usa el certificado propio del hospital.",

    patients_title: "Pacientes",
    patient_new: "Registrar paciente",
    patient_name: "Nombre del paciente",
    ward: "Planta / unidad",
    bed: "Cama",
    record_number: "Número de historia",
    optional: "opcional",
    search: "Buscar",
    search_placeholder: "Nombre, unidad, cama o historia",
    register_button: "Registrar",
    no_patients: "No hay pacientes.",
    admitted: "Ingresado",
    discharged: "Alta",
    discharge_button: "Dar de alta",
    discharge_help: "Al dar de alta se cierran sus salas y no se pueden crear nuevas.",
    patient_rooms: "Salas del paciente",

    rooms_title: "Salas abiertas",
    room_create_button: "Crear sala",
    created_at: "Creada",
    room_open: "Abierta",
    room_closed: "Cerrada",
    room_close_button: "Cerrar sala",
    open_room: "Abrir",
    no_rooms: "No hay salas abiertas.",
    present_now: "En la sala ahora",
    nobody: "Nadie",
    patient: "Paciente",
    room_title: "Sala",
    actions: "Acciones",

    error_title: "No se pudo completar",
    err_bad_request: "La petición no es válida.",
    err_forbidden: "No tiene permiso para ver esta página.",
    err_not_found: "No encontramos esta página.",
    err_conflict: "Esta acción no es posible en el estado actual.",
    err_too_large: "Los datos enviados son demasiado grandes.",
    err_too_many: "Demasiados intentos. Espere unos minutos y vuelva a intentarlo.",
    err_internal: "Algo ha fallado en el servidor. Vuelva a intentarlo; si sigue ocurriendo, avise al servicio de informática.",
    err_disk_full: "No se puede guardar nada ahora mismo: el disco del servidor está lleno. No se ha cambiado nada. Avise al servicio de informática y vuelva a intentarlo cuando hayan liberado espacio.",
    err_disk_read_only: "No se puede guardar nada ahora mismo: el disco del servidor no admite escritura. No se ha cambiado nada. Avise al servicio de informática.",
    err_disk_io: "No se puede guardar nada ahora mismo: el disco del servidor está dando errores. No se ha cambiado nada. Avise al servicio de informática.",
    err_csrf: "Este formulario ha caducado o viene de otro sitio. Vuelva atrás, recargue la página e inténtelo de nuevo.",
    back_home: "Volver al inicio",
    tap_to_hear: "Toque para oír",
    nav_visits: "Registro de visitas",
    invites_title: "Invitaciones para familiares",
    invite_new: "Invitar a un familiar",
    relative_name: "Nombre del familiar",
    relationship: "Parentesco",
    invite_language: "Idioma del familiar",
    invite_create_button: "Crear invitación",
    invite_status_active: "Activa",
    invite_status_expired: "Caducada",
    invite_status_revoked: "Revocada",
    invite_status_locked: "Bloqueada por códigos erróneos: cree una nueva",
    invite_status_room_closed: "Sala cerrada",
    invite_revoke_button: "Revocar",
    invite_expires: "Caduca",
    invite_shown_once: "Anote o imprima esta tarjeta ahora: el enlace y el código no se volverán a mostrar.",
    print_button: "Imprimir",
    back_to_room: "Volver a la sala",
    no_invites: "Todavía no hay invitaciones.",
    open_bedside: "Abrir la llamada en el dispositivo de la cama",
    join_as_staff: "Unirme a la llamada",
    err_room_closed: "La sala está cerrada.",
    card_title: "Videovisita en el hospital",
    card_for: "Para",
    card_intro: "Puede ver y hablar con su familiar ingresado desde su móvil, tableta u ordenador.",
    card_step_link: "1. Abra este enlace o escanee el código QR:",
    card_step_code: "2. Escriba este código de acceso:",
    card_step_join: "3. Compruebe la cámara y el micrófono y pulse «Entrar en la visita».",
    card_valid_until: "Válido hasta",
    card_keep_private: "No comparta el enlace ni el código con nadie.",
    visit_title: "Videovisita",
    code_prompt: "Escriba el código de 6 cifras que le dio el personal de enfermería.",
    code_label: "Código de acceso",
    code_button: "Continuar",
    code_wrong: "El código no es correcto. Le quedan {n} intentos.",
    code_malformed: "El código tiene 6 cifras.",
    invite_invalid: "Este enlace de invitación no es válido. Compruebe que lo ha copiado entero o pida uno nuevo al personal de enfermería.",
    invite_expired: "Esta invitación ha caducado. Pida una nueva al personal de enfermería.",
    invite_revoked: "Esta invitación ya no es válida. Si cree que es un error, hable con el personal de enfermería.",
    invite_locked: "Esta invitación se ha bloqueado tras varios códigos erróneos. Pida una nueva al personal de enfermería.",
    invite_room_closed: "La visita ha terminado. Si necesita otra, hable con el personal de enfermería.",
    open_link_again: "Abra de nuevo el enlace de su invitación.",
    check_title: "Antes de entrar",
    check_intro: "Compruebe que se le ve y se le oye bien.",
    camera: "Cámara",
    microphone: "Micrófono",
    mic_level_help: "Hable: la barra debe moverse.",
    join_button: "Entrar en la visita",
    perm_denied: "El navegador no tiene permiso para usar la cámara o el micrófono. Toque el icono del candado o de la cámara junto a la dirección, permita el acceso y pulse «Reintentar».",
    no_camera: "No encontramos ninguna cámara. Puede entrar solo con sonido.",
    no_devices: "No encontramos cámara ni micrófono. Conecte uno y pulse «Reintentar».",
    insecure: "Esta página necesita una conexión segura (https).",
    retry: "Reintentar",
    call_waiting: "Esperando a la otra persona…",
    call_connecting: "Conectando…",
    call_connected: "Conectado",
    call_reconnecting: "Reconectando…",
    call_ended: "La llamada ha terminado",
    mute: "Silenciar",
    unmute: "Activar micrófono",
    camera_off: "Apagar cámara",
    camera_on: "Encender cámara",
    hang_up: "Colgar",
    other_left: "{name} ha salido de la llamada.",
    ended_revoked: "El personal de enfermería ha terminado la visita.",
    ended_room_closed: "La sala se ha cerrado.",
    ended_full: "La sala está completa. Inténtelo más tarde.",
    ended_not_allowed: "Ya no puede entrar en esta visita.",
    ended_server: "El servidor se ha reiniciado. Vuelva a entrar.",
    ended_not_recorded: "La visita no se puede registrar ahora mismo, así que no puede empezar. Por favor, avise a la enfermera.",
    ended_no_answer: "No se ha podido entrar en la visita: el servidor no responde. Compruebe la conexión y pulse «Volver a entrar». Si sigue sin funcionar, avise a la enfermera.",
    rejoin: "Volver a entrar",
    role_patient: "Paciente",
    role_relative: "Familiar",
    role_staff: "Personal",
    visits_title: "Registro de visitas",
    who: "Quién",
    joined: "Entrada",
    left: "Salida",
    duration: "Duración",
    end_reason: "Cómo terminó",
    no_visits: "Todavía no hay visitas.",
    reason_hangup: "Colgó",
    reason_connection_lost: "Conexión perdida",
    reason_revoked: "Invitación revocada",
    reason_room_closed: "Sala cerrada",
    reason_server: "Reinicio del servidor",
};

/// English.
pub const EN: Text = Text {
    lang_code: "en",
    other_lang_code: "es",
    other_lang_name: "Español",
    switch_language: "Change language",
    app_name: "Visitas",
    tagline: "Hospital video visits",
    nav_rooms: "Rooms",
    nav_patients: "Patients",
    nav_staff: "Staff",
    logout: "Sign out",
    signed_in_as: "Signed in as",
    date_format: DateFormat::YearMonthDay,

    login_title: "Sign in",
    username: "Username",
    password: "Password",
    password_confirm: "Repeat the password",
    display_name: "Name",
    login_button: "Sign in",
    login_failed: "Wrong username or password.",
    login_throttled: "Too many failed attempts. Wait {n} minutes and try again.",

    setup_title: "Create the first administrator",
    setup_intro: "This link works once and expires after one hour. Create the administrator account; then you can add the nursing staff.",
    setup_button: "Create administrator",
    setup_invalid: "This setup link is not valid, was already used or has expired. Restart the server to get a new one, or use “visitas admin create”.",

    err_required: "This field is required.",
    err_too_long: "At most {n} characters.",
    err_control_chars: "Must not contain control characters.",
    err_invisible_chars: "Must not contain invisible or text-direction characters (such as U+202E).",
    err_password_short: "The password must have at least {n} characters.",
    err_password_long: "The password is too long.",
    err_password_common: "That password is too common. Choose another one.",
    err_password_mismatch: "The passwords do not match.",
    err_password_username: "The password must not be the username.",
    err_username_invalid: "Use 3 to 64 letters, digits, dots, hyphens or underscores.",
    err_username_taken: "That username already exists.",
    err_record_taken: "A patient with that record number already exists.",
    err_patient_discharged: "The patient has been discharged: no new rooms can be created.",
    form_has_errors: "Please check the marked fields.",

    staff_title: "Staff",
    staff_new: "New nurse account",
    staff_create_button: "Create account",
    role: "Role",
    role_admin: "Administrator",
    role_nurse: "Nurse",
    status: "Status",
    active: "Active",
    inactive: "Deactivated",
    deactivate_button: "Deactivate",
    err_self_deactivate: "You cannot deactivate your own account.",
    ca_title: "Server certificate",
    ca_help: "Install this authority certificate on the hospital's managed tablets and computers so that browsers trust Visitas without warnings.",
    ca_download: "Download the authority certificate",
    ca_not_generated: "This server uses the hospital's own certificate.",

    patients_title: "Patients",
    patient_new: "Register patient",
    patient_name: "Patient's name",
    ward: "Ward",
    bed: "Bed",
    record_number: "Record number",
    optional: "optional",
    search: "Search",
    search_placeholder: "Name, ward, bed or record",
    register_button: "Register",
    no_patients: "No patients.",
    admitted: "Admitted",
    discharged: "Discharged",
    discharge_button: "Discharge",
    discharge_help: "Discharging closes the patient's rooms and no new ones can be created.",
    patient_rooms: "Patient's rooms",

    rooms_title: "Open rooms",
    room_create_button: "Create room",
    created_at: "Created",
    room_open: "Open",
    room_closed: "Closed",
    room_close_button: "Close room",
    open_room: "Open",
    no_rooms: "There are no open rooms.",
    present_now: "In the room now",
    nobody: "Nobody",
    patient: "Patient",
    room_title: "Room",
    actions: "Actions",

    error_title: "That did not work",
    err_bad_request: "The request is not valid.",
    err_forbidden: "You do not have permission to see this page.",
    err_not_found: "We could not find this page.",
    err_conflict: "This action is not possible in the current state.",
    err_too_large: "The data sent is too large.",
    err_too_many: "Too many attempts. Wait a few minutes and try again.",
    err_internal: "Something went wrong on the server. Try again; if it keeps happening, tell the IT service.",
    err_disk_full: "Nothing can be saved right now: the server's disk is full. Nothing was changed. Tell the IT service and try again once they have freed space.",
    err_disk_read_only: "Nothing can be saved right now: the server's disk does not accept writes. Nothing was changed. Tell the IT service.",
    err_disk_io: "Nothing can be saved right now: the server's disk is reporting errors. Nothing was changed. Tell the IT service.",
    err_csrf: "This form has expired or came from another site. Go back, reload the page and try again.",
    back_home: "Back to the start",
    tap_to_hear: "Tap to hear",
    nav_visits: "Visit log",
    invites_title: "Invitations for relatives",
    invite_new: "Invite a relative",
    relative_name: "Relative's name",
    relationship: "Relationship",
    invite_language: "Relative's language",
    invite_create_button: "Create invitation",
    invite_status_active: "Active",
    invite_status_expired: "Expired",
    invite_status_revoked: "Revoked",
    invite_status_locked: "Locked after wrong codes: create a new one",
    invite_status_room_closed: "Room closed",
    invite_revoke_button: "Revoke",
    invite_expires: "Expires",
    invite_shown_once: "Write down or print this card now: the link and the code will not be shown again.",
    print_button: "Print",
    back_to_room: "Back to the room",
    no_invites: "No invitations yet.",
    open_bedside: "Open the call on the bedside device",
    join_as_staff: "Join the call",
    err_room_closed: "The room is closed.",
    card_title: "Hospital video visit",
    card_for: "For",
    card_intro: "You can see and talk with your relative in hospital from your phone, tablet or computer.",
    card_step_link: "1. Open this link or scan the QR code:",
    card_step_code: "2. Type this access code:",
    card_step_join: "3. Check your camera and microphone and press “Join the visit”.",
    card_valid_until: "Valid until",
    card_keep_private: "Do not share the link or the code with anyone.",
    visit_title: "Video visit",
    code_prompt: "Type the 6-digit code the nursing staff gave you.",
    code_label: "Access code",
    code_button: "Continue",
    code_wrong: "The code is not correct. {n} attempts left.",
    code_malformed: "The code has 6 digits.",
    invite_invalid: "This invitation link is not valid. Check that you copied all of it, or ask the nursing staff for a new one.",
    invite_expired: "This invitation has expired. Ask the nursing staff for a new one.",
    invite_revoked: "This invitation is no longer valid. If you think this is a mistake, talk to the nursing staff.",
    invite_locked: "This invitation was locked after several wrong codes. Ask the nursing staff for a new one.",
    invite_room_closed: "The visit has ended. If you need another one, talk to the nursing staff.",
    open_link_again: "Open your invitation link again.",
    check_title: "Before you join",
    check_intro: "Check that you can be seen and heard.",
    camera: "Camera",
    microphone: "Microphone",
    mic_level_help: "Speak: the bar should move.",
    join_button: "Join the visit",
    perm_denied: "The browser is not allowed to use the camera or the microphone. Tap the lock or camera icon next to the address, allow access and press “Try again”.",
    no_camera: "No camera was found. You can join with sound only.",
    no_devices: "No camera or microphone was found. Connect one and press “Try again”.",
    insecure: "This page needs a secure connection (https).",
    retry: "Try again",
    call_waiting: "Waiting for the other side…",
    call_connecting: "Connecting…",
    call_connected: "Connected",
    call_reconnecting: "Reconnecting…",
    call_ended: "The call has ended",
    mute: "Mute",
    unmute: "Unmute",
    camera_off: "Camera off",
    camera_on: "Camera on",
    hang_up: "Hang up",
    other_left: "{name} left the call.",
    ended_revoked: "The nursing staff ended the visit.",
    ended_room_closed: "The room was closed.",
    ended_full: "The room is full. Try again later.",
    ended_not_allowed: "You can no longer join this visit.",
    ended_server: "The server restarted. Join again.",
    ended_not_recorded: "The visit cannot be recorded right now, so it cannot start. Please tell the nurse.",
    ended_no_answer: "Could not join the visit: the server is not answering. Check your connection and press \"Join again\". If it still does not work, tell the nurse.",
    rejoin: "Join again",
    role_patient: "Patient",
    role_relative: "Relative",
    role_staff: "Staff",
    visits_title: "Visit log",
    who: "Who",
    joined: "Joined",
    left: "Left",
    duration: "Duration",
    end_reason: "How it ended",
    no_visits: "No visits yet.",
    reason_hangup: "Hung up",
    reason_connection_lost: "Connection lost",
    reason_revoked: "Invitation revoked",
    reason_room_closed: "Room closed",
    reason_server: "Server restart",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn dates_are_written_as_each_language_expects() {
        let time = chrono::NaiveDate::from_ymd_opt(2026, 3, 7)
            .and_then(|d| d.and_hms_opt(9, 5, 0))
            .expect("a valid date");
        assert_eq!(Lang::Es.text().date_format.write(&time), "07/03/2026 09:05");
        assert_eq!(Lang::En.text().date_format.write(&time), "2026-03-07 09:05");
        for format in [DateFormat::DayMonthYear, DateFormat::YearMonthDay] {
            let pattern = match format {
                DateFormat::DayMonthYear => "%d/%m/%Y %H:%M",
                DateFormat::YearMonthDay => "%Y-%m-%d %H:%M",
            };
            assert_eq!(format.write(&time), time.format(pattern).to_string());
        }
    }

    #[test]
    fn accept_language_picks_the_highest_supported_quality() {
        assert_eq!(
            from_accept_language("fr, en;q=0.8, es;q=0.9"),
            Some(Lang::Es)
        );
        assert_eq!(from_accept_language("en-GB,en;q=0.9"), Some(Lang::En));
        assert_eq!(from_accept_language("de, fr"), None);
        assert_eq!(from_accept_language("es;q=0"), None);
    }

    #[test]
    fn the_cookie_wins_over_accept_language() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("es"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; visitas-lang=en"),
        );
        assert_eq!(Lang::negotiate(&headers, Lang::Es), Lang::En);
    }

    #[test]
    fn the_catalogs_name_each_other() {
        for lang in Lang::ALL {
            let text = lang.text();
            assert_eq!(text.lang_code, lang.code());
            let other = Lang::from_code(text.other_lang_code).expect("a supported language");
            assert_ne!(other, lang);
            assert_eq!(other.text().other_lang_code, lang.code());
        }
    }
}
